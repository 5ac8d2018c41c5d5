import type { Command } from "commander";
import { expandTopics, topics } from "../shared/topics.ts";
import { readAvroFiles } from "../shared/schemas/avro-files.ts";
import { RegistryClient, valueSubject, type SchemaApplyResult } from "../shared/schemas/registry.ts";
import { BatonError } from "../shared/errors.ts";
import { loadCliConfig } from "./config.ts";
import type { BackboneConfig } from "../shared/config.ts";
import { registryAuthorizationOf } from "../shared/security/security-config.ts";
import { runAction } from "./run-action.ts";

/** A subject the registry refused, with its reason. */
export interface SchemaRefusal {
  subject: string;
  reason: string;
}

/** Registers the schema of every declared topic (retry topics too) with BACKWARD compatibility. */
export async function applyDeclaredSchemas(
  config: BackboneConfig = loadCliConfig(),
): Promise<{ applied: SchemaApplyResult[]; refused: SchemaRefusal[] }> {
  const registry = new RegistryClient(config.SCHEMA_REGISTRY_URL, registryAuthorizationOf(config));
  await registry.checkAccess();
  const files = await readAvroFiles();
  const applied: SchemaApplyResult[] = [];
  const refused: SchemaRefusal[] = [];
  for (const spec of expandTopics(topics)) {
    if (spec.valueRecord === null) continue;
    const file = files.get(spec.valueRecord);
    if (file === undefined) {
      throw new BatonError(
        "CONFIG_INVALID",
        `${spec.name} declares record ${spec.valueRecord} but no schemas/*.avsc defines it`,
      );
    }
    try {
      applied.push(await registry.apply(valueSubject(spec.name), file));
    } catch (error) {
      if (error instanceof BatonError && error.code === "SCHEMA_INCOMPATIBLE") {
        refused.push({ subject: valueSubject(spec.name), reason: error.message });
      } else throw error;
    }
  }
  return { applied, refused };
}

/** `baton schemas apply`. */
export function registerSchemasCommands(program: Command): void {
  const group = program.command("schemas").description("Avro schemas in schemas/ and the registry");
  group
    .command("apply")
    .description("register every topic's value schema under <topic>-value with BACKWARD compatibility")
    .option("--json", "print the results as JSON")
    .addHelpText("after", "\nExample:\n  $ baton schemas apply\n")
    .action(
      runAction(async (options: { json?: boolean }) => {
        const { applied, refused } = await applyDeclaredSchemas();
        if (options.json === true) console.log(JSON.stringify({ applied, refused }, null, 2));
        else {
          for (const result of applied) {
            console.log(
              `  ${result.unchanged ? "unchanged " : "registered"}  ${result.subject.padEnd(36)} ${result.record} (id ${result.id})`,
            );
          }
          for (const refusal of refused) console.log(`  REFUSED     ${refusal.subject.padEnd(36)} ${refusal.reason}`);
        }
        if (refused.length > 0) {
          throw new Error(
            "the registry refused incompatible schemas; make the change BACKWARD-compatible (add fields with defaults)",
          );
        }
      }),
    );
}
