import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { backboneConfigSchema, parseConfig } from "../../shared/config.ts";
import { createBackbone, type Backbone } from "../../shared/backbone.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { kafkaAccessError } from "../../shared/kafka/client.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import type { Response } from "../../shared/schemas/records.ts";
import { stackStatus } from "../../cli/stack/stack.ts";
import { secureStackEnv } from "../../cli/stack/secure-env.ts";
import { TestPipeline } from "../e2e/pipeline.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const nodeOptions = ["--disable-warning=TimeoutNegativeWarning"];

/** What a `baton` command printed and how it ended. */
interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

function baton(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliRun> {
  const started = performance.now();
  // The secured broker's address and credentials come from `env` alone, never from the test's own environment.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("KAFKA_") && !key.startsWith("REGISTRY_")),
  );
  const child = spawn(process.execPath, [...nodeOptions, join(root, "cli/main.ts"), ...args], {
    cwd: root,
    env: { ...inherited, OTEL_TRACES_EXPORTER: "none", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, elapsedMs: performance.now() - started });
    }),
  );
}

/** The lines a person reads: `error:` and `hint:` lines (kafkajs's JSON logs are for the log pipeline). */
function errorLines(run: CliRun): string[] {
  return run.stderr.split("\n").filter((line) => line.startsWith("error:"));
}

let startedBroker = false;
const backbones: Backbone[] = [];
const producers: BatonProducer[] = [];
let pipeline: TestPipeline | undefined;

/** A backbone of one principal of the secured stack, in this process. */
function backboneAs(principal: string): Backbone {
  const config = parseConfig(backboneConfigSchema, { OTEL_TRACES_EXPORTER: "none", ...secureStackEnv(principal) });
  const backbone = createBackbone(
    `secure-test-${principal}`,
    config,
    createLogger({ service: "test", level: "fatal" }),
  );
  backbones.push(backbone);
  return backbone;
}

async function producerAs(principal: string): Promise<BatonProducer> {
  const { kafka, codec, tracing } = backboneAs(principal);
  const producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
  producers.push(producer);
  return producer;
}

/** The BatonError a refused produce becomes, as a stage or the CLI reports it (raw bytes: Kafka must refuse it). */
async function refusalOf(principal: string, topic: string): Promise<string> {
  const producer = await producerAs(principal);
  const error = await producer.sendRaw([{ topic, key: randomUUID(), value: Buffer.from("refused") }]).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  const refusal = kafkaAccessError(error, principal);
  expect(refusal?.code, `${principal} writing ${topic}: ${String(error)}`).toBe("NOT_AUTHORIZED");
  return refusal?.message ?? "";
}

beforeAll(async () => {
  startedBroker = !(await stackStatus({ secure: true })).ready;
  const up = await baton(["stack", "up", "--secure", "--quiet-if-running"], {}, 240_000);
  if (up.code !== 0) throw new Error(`baton stack up --secure failed:\n${up.stdout}\n${up.stderr}`);
}, 300_000);

afterAll(async () => {
  await pipeline?.stop();
  for (const producer of producers) await producer.disconnect().catch(() => undefined);
  for (const backbone of backbones) await backbone.tracing.shutdown();
  if (startedBroker) await baton(["stack", "down", "--secure"], {}, 90_000);
}, 120_000);

describe("Baton on a secured cluster (baton stack up --secure)", () => {
  it("a client without credentials is refused at start in one line", async () => {
    const { KAFKA_BROKERS = "" } = secureStackEnv("baton-submitter");
    const run = await baton(["submit", "hello"], { KAFKA_BROKERS });
    expect(run.code).toBe(1);
    expect(errorLines(run)).toEqual([
      `error: Kafka at ${KAFKA_BROKERS} requires SASL (SCRAM-SHA-512) and no credentials are set: set KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE`,
    ]);
  });

  it("a wrong password is refused in one line within seconds, without a retry loop", async () => {
    const wrong = join(await mkdtemp(join(tmpdir(), "baton-secure-")), "wrong.password");
    await writeFile(wrong, "not-the-password\n", { mode: 0o600 });
    const run = await baton(["submit", "hello"], {
      ...secureStackEnv("baton-submitter"),
      KAFKA_SASL_PASSWORD_FILE: wrong,
    });
    expect(run.code).toBe(1);
    expect(errorLines(run)).toHaveLength(1);
    expect(errorLines(run)[0]).toMatch(/^error: Kafka refused the credentials of principal User:baton-submitter: /);
    expect(run.elapsedMs).toBeLessThan(10_000);
  });

  it("an unreadable password file is a configuration error naming the key", async () => {
    const run = await baton(["submit", "hello"], {
      ...secureStackEnv("baton-submitter"),
      KAFKA_SASL_PASSWORD_FILE: "/nonexistent/baton.password",
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("KAFKA_SASL_PASSWORD_FILE: cannot read /nonexistent/baton.password (ENOENT)");
  });

  it("a stage run as another stage's principal stops at start in one line naming the refusal", async () => {
    // The executor's principal may not read baton.requests, the planner's input.
    const run = await baton(["planner"], { ...secureStackEnv("baton-executor"), METRICS_PORT: "0" });
    expect(run.code).toBe(1);
    expect(errorLines(run)).toHaveLength(1);
    expect(errorLines(run)[0]).toMatch(
      /^error: planner cannot start: .*Kafka's ACLs refuse principal User:baton-executor a topic \(TOPIC_AUTHORIZATION_FAILED\)/,
    );
  });

  it("the executor's principal may not write baton.allowed-calls, the policy's output", async () => {
    const message = await refusalOf("baton-executor", "baton.allowed-calls");
    expect(message).toMatch(
      /^produce to baton.allowed-calls failed: Kafka's ACLs refuse principal User:baton-executor/,
    );
  });

  it("the submitter may not write approvals", async () => {
    const message = await refusalOf("baton-submitter", "baton.approvals");
    expect(message).toMatch(/^produce to baton.approvals failed: Kafka's ACLs refuse principal User:baton-submitter/);
  });

  it("a request submitted as the submitter is answered by the four stages, each as its own principal", async () => {
    pipeline = await TestPipeline.start(
      {
        workflowsDirs: ["test/e2e/workflows"],
        policyFile: "test/e2e/policy.yaml",
        serversFile: "test/integration/fixtures/secure-mcp-servers.yaml",
      },
      {
        stageEnv: (stage) => ({ ...secureStackEnv(`baton-${stage}`), OTEL_TRACES_EXPORTER: "none" }),
        stopDemoStages: false,
      },
    );
    const submitted = { requestId: randomUUID(), input: "How long does shipping take?" };
    const run = await baton(
      [
        "submit",
        submitted.input,
        "--workflow",
        "parallel-lookup",
        "--meta",
        "customerEmail=dana@example.com",
        "--id",
        submitted.requestId,
        "--wait",
        "--json",
        "--timeout",
        "90",
      ],
      secureStackEnv("baton-submitter"),
      120_000,
    );
    expect(run.code, run.stderr).toBe(0);
    const response = JSON.parse(run.stdout) as Response;
    expect(response.requestId).toBe(submitted.requestId);
    expect(response.status).toBe("ANSWERED");
  }, 240_000);
});
