import { execFile } from "node:child_process";
import { access, chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { newKafkaClusterId, renderKafkaLog4j2Properties, renderKafkaServerProperties } from "./kafka-config.ts";
import type { KafkaSecuritySettings } from "./kafka-config.ts";
import { controllerPrincipal, ensureCredentials, scramPrincipals } from "./secure-credentials.ts";
import { adminPrincipal } from "../../shared/topics.ts";
import { StackError } from "./stack-errors.ts";
import type { ServiceDefinition } from "./stack-services.ts";
import { stackHost } from "./stack-services.ts";

/** What preparing the broker needs. */
export interface KafkaStorageOptions {
  javaCommand: string;
  onProgress: (line: string) => void;
  /** For the secured broker: the folder of its principals' password files (made on the first start). */
  credentialsDir?: string;
}

/**
 * Writes the broker's configuration (on every start, so changes in kafka-config.ts apply) and formats its data folder
 * once, the way `kafka-storage.sh format` does.
 */
export async function prepareKafka(
  service: ServiceDefinition,
  artifactDir: string,
  options: KafkaStorageOptions,
): Promise<void> {
  const dataDir = service.dataDir ?? join(service.serviceDir, "data");
  const broker = service.ports.find((port) => port.role === "broker");
  const controller = service.ports.find((port) => port.role === "controller");
  if (broker === undefined || controller === undefined)
    throw new Error("the Kafka service needs a broker and a controller port");
  const serverProperties = join(service.serviceDir, "server.properties");
  const log4j2Properties = join(service.serviceDir, "log4j2.properties");
  await mkdir(dataDir, { recursive: true });
  const formatted = await exists(join(dataDir, "meta.properties"));
  const passwords =
    options.credentialsDir === undefined ? undefined : await ensureCredentials(options.credentialsDir, formatted);
  const security: KafkaSecuritySettings | undefined =
    passwords === undefined
      ? undefined
      : {
          adminUser: adminPrincipal,
          adminPassword: passwords.get(adminPrincipal) ?? "",
          controllerUser: controllerPrincipal,
          controllerPassword: passwords.get(controllerPrincipal) ?? "",
        };
  await writeFile(
    serverProperties,
    renderKafkaServerProperties({
      host: stackHost,
      brokerPort: broker.port,
      controllerPort: controller.port,
      dataDir,
      ...(security === undefined ? {} : { security }),
    }),
    { mode: 0o600 },
  );
  // It holds the admin's and the controller's passwords when secured.
  await chmod(serverProperties, 0o600);
  await writeFile(log4j2Properties, renderKafkaLog4j2Properties(service.logFile));
  if (formatted) return;
  // SCRAM users exist from the first start (KIP-900): the broker authenticates its own inter-broker user with them.
  const scramArguments =
    passwords === undefined
      ? []
      : scramPrincipals().flatMap((principal) => [
          "--add-scram",
          `SCRAM-SHA-512=[name=${principal},password=${passwords.get(principal) ?? ""}]`,
        ]);

  const clusterId = newKafkaClusterId();
  options.onProgress(`formatting Kafka storage in ${dataDir} (cluster id ${clusterId})…`);
  await new Promise<void>((resolve, reject) => {
    execFile(
      options.javaCommand,
      [
        `-Dlog4j2.configurationFile=${log4j2Properties}`,
        "-cp",
        join(artifactDir, "*"),
        "kafka.tools.StorageTool",
        "format",
        "--cluster-id",
        clusterId,
        "--config",
        serverProperties,
        ...scramArguments,
      ],
      { timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error === null) resolve();
        else {
          reject(
            new StackError(
              "START_FAILED",
              `formatting Kafka storage in ${dataDir} failed; remove that folder and run baton stack up again`,
              {
                details: `${stdout}${stderr}`.trim(),
                cause: error,
              },
            ),
          );
        }
      },
    );
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
