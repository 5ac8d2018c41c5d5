import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { readPidFile } from "../../cli/stack/pid-file.ts";
import { resolveStackPaths } from "../../cli/stack/stack-paths.ts";
import { stackUp } from "../../cli/stack/stack.ts";
import { backboneConfigSchema, parseConfig } from "../../shared/config.ts";
import { createBackbone, type Backbone } from "../../shared/backbone.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import { BatonAdmin } from "../../shared/kafka/admin.ts";
import { readAvroFiles } from "../../shared/schemas/avro-files.ts";
import { valueSubject } from "../../shared/schemas/registry.ts";
import type { RecordName } from "../../shared/schemas/records.ts";
import type { TopicSpec } from "../../shared/topics.ts";

/** A test's connection to the real local stack, with unique topic names and clean-up. */
export interface Harness {
  backbone: Backbone;
  admin: BatonAdmin;
  /** A topic name no other test run uses. */
  uniqueTopic(label: string): string;
  /** Creates topics (and registers the record under `<topic>-value` when given). */
  createTopic(
    name: string,
    options?: { partitions?: number; record?: RecordName; config?: Record<string, string> },
  ): Promise<void>;
  close(): Promise<void>;
}

/** Connects to the stack `npm test` brought up (`baton stack up`). */
export async function openHarness(service: string, env: Record<string, string | undefined> = {}): Promise<Harness> {
  const config = parseConfig(backboneConfigSchema, { OTEL_TRACES_EXPORTER: "none", BATON_LOG_LEVEL: "warn", ...env });
  const backbone = createBackbone(service, config, createLogger({ service, level: "warn" }));
  const admin = await BatonAdmin.connect(backbone.kafka);
  const created: string[] = [];
  const subjects: string[] = [];
  const files = await readAvroFiles();
  const run = randomUUID().slice(0, 8);
  return {
    backbone,
    admin,
    uniqueTopic: (label) => `test.${label}.${run}.${randomUUID().slice(0, 6)}`,
    async createTopic(name, options = {}) {
      const spec: TopicSpec = {
        name,
        partitions: options.partitions ?? 1,
        config: options.config ?? { "cleanup.policy": "delete", "retention.ms": "3600000" },
        valueRecord: options.record ?? null,
        role: "main",
      };
      await admin.applyTopics([spec]);
      created.push(name);
      if (options.record !== undefined) {
        const file = files.get(options.record);
        if (file === undefined) throw new Error(`no schema for ${options.record}`);
        await backbone.registry.apply(valueSubject(name), file);
        subjects.push(valueSubject(name));
      }
    },
    async close() {
      await admin.deleteTopics(created).catch(() => undefined);
      for (const subject of subjects) await backbone.registry.deleteSubject(subject).catch(() => undefined);
      await admin.disconnect();
      await backbone.tracing.shutdown();
    },
  };
}

/** Polls until `check` returns a value (not undefined) or the time runs out. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(
    `condition not met within ${timeoutMs} ms${lastError instanceof Error ? `: ${lastError.message}` : ""}`,
  );
}

/** A sample baton.Request. */
export function sampleRequest(requestId: string, input = "My order #1234 arrived damaged and I want a refund") {
  return { requestId, tenant: "demo", input, workflow: null, metadata: { channel: "test" }, submittedAt: Date.now() };
}

/** SIGKILLs the stack's broker, as the chaos test does; {@link startBroker} brings it back. */
export async function killBroker(): Promise<void> {
  const kafkaPid = await readPidFile(join(resolveStackPaths().stackDir, "kafka", "pid"));
  if (kafkaPid === undefined) throw new Error("no Kafka pid: is the stack up?");
  process.kill(kafkaPid, "SIGKILL");
  await sleep(1_000);
}

/** Starts the broker again; `stack up` may refuse to repartition topics other tests left, the broker is up all the same. */
export async function startBroker(): Promise<void> {
  await stackUp().catch((error: unknown) => console.warn(`stack up: ${(error as Error).message}`));
}
