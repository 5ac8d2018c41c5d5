// `npm run bench`: end-to-end latency and throughput of the support workflow on the local stack, next to the
// raw produce-to-consume round trip with the same client and settings. It reports; it never fails a build.
import { randomUUID } from "node:crypto";
import { cpus } from "node:os";
import { readFile } from "node:fs/promises";
import { backboneConfigSchema, parseConfig } from "../shared/config.ts";
import { createBackbone } from "../shared/backbone.ts";
import { createLogger } from "../shared/telemetry/logger.ts";
import { BatonProducer } from "../shared/kafka/producer.ts";
import { BatonAdmin } from "../shared/kafka/admin.ts";
import { TopicWatcher } from "../shared/kafka/topic-watcher.ts";
import { valueSubject } from "../shared/schemas/registry.ts";
import { readAvroFiles } from "../shared/schemas/avro-files.ts";
import type { Request, Response } from "../shared/schemas/records.ts";
import { bringUpStack } from "../cli/stack/stack-command.ts";
import { startPipeline } from "../cli/stack/pipeline-processes.ts";

const latencyRequests = Number(process.argv[2] ?? 200);
const throughputRequests = Number(process.argv[3] ?? 2000);
// A client that batches its sends, as Kafka's own producer does with linger.ms.
const batchSize = 100;
const hopsPerRequest = 7; // requests, tool-calls, allowed-calls, tool-results, completed-runs, drafts, responses

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function request(input: string): Request {
  return {
    requestId: `bench-${randomUUID()}`,
    tenant: "demo",
    input,
    workflow: "customer-support",
    metadata: {},
    submittedAt: Date.now(),
  };
}

async function waitForStages(): Promise<void> {
  const stages = await startPipeline({ BATON_LOG_LEVEL: "warn", OTEL_TRACES_EXPORTER: "none" });
  for (const stage of stages) {
    for (let tries = 0; ; tries += 1) {
      const log = await readFile(stage.logFile, "utf8").catch(() => "");
      if (log.includes('"msg":"stage running"') || tries > 50) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

await bringUpStack({ quietIfRunning: true });
await waitForStages();

const config = parseConfig(backboneConfigSchema, { OTEL_TRACES_EXPORTER: "none" });
const backbone = createBackbone("baton-bench", config, createLogger({ service: "baton-bench", level: "error" }));
const { kafka, codec, tracing, registry } = backbone;
const producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
const admin = await BatonAdmin.connect(kafka);

// Raw round trip: the same producer settings and Avro codec on a one-hop topic of 6 partitions.
const rawTopic = `bench.round-trip.${randomUUID().slice(0, 8)}`;
await admin.applyTopics([
  { name: rawTopic, partitions: 6, config: { "retention.ms": "600000" }, valueRecord: "baton.Request", role: "main" },
]);
const requestSchema = (await readAvroFiles()).get("baton.Request");
if (requestSchema === undefined) throw new Error("schemas/request.avsc missing");
await registry.apply(valueSubject(rawTopic), requestSchema);

/** How a measurement submits: one at a time, all at once (a send each), or all at once in sends of `batch`. */
type Submission = "one-at-a-time" | "at-once" | { batch: number };

async function measure(
  topic: string,
  watchTopic: string,
  count: number,
  submission: Submission,
  input: string,
  poisonEvery = 0,
) {
  const watcher = new TopicWatcher<Request | Response>({ kafka, codec, topic: watchTopic });
  await watcher.start();
  const latencies: number[] = [];
  const started = performance.now();
  const values = Array.from({ length: count }, () => request(input));
  const poisonFor = (index: number) =>
    poisonEvery > 0 && index % poisonEvery === 0
      ? [{ topic, key: `bench-poison-${randomUUID()}`, value: Buffer.from("not avro at all") }]
      : [];
  const answered = async (value: Request, sent: number): Promise<void> => {
    await watcher.waitFor(value.requestId, 120_000);
    latencies.push(performance.now() - sent);
  };
  const one = async (value: Request, index: number): Promise<void> => {
    const sent = performance.now();
    await Promise.all([
      producer.send([{ topic, key: value.requestId, value }]),
      poisonFor(index).length > 0 ? producer.sendRaw(poisonFor(index)) : undefined,
    ]);
    await answered(value, sent);
  };
  if (submission === "one-at-a-time") {
    for (const [index, value] of values.entries()) await one(value, index);
  } else if (submission === "at-once") {
    await Promise.all(values.map(one));
  } else {
    const waits: Array<Promise<void>> = [];
    for (let start = 0; start < count; start += submission.batch) {
      const batch = values.slice(start, start + submission.batch);
      const sent = performance.now();
      const poison = batch.flatMap((_, offset) => poisonFor(start + offset));
      await producer.send(batch.map((value) => ({ topic, key: value.requestId, value })));
      if (poison.length > 0) await producer.sendRaw(poison);
      waits.push(...batch.map((value) => answered(value, sent)));
    }
    await Promise.all(waits);
  }
  const seconds = (performance.now() - started) / 1000;
  await watcher.stop();
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), perSecond: count / seconds };
}

const question = "How long does shipping take?";
process.stderr.write(`warming up…\n`);
await measure("baton.requests", "baton.responses", 20, "one-at-a-time", question);
await measure(rawTopic, rawTopic, 50, "one-at-a-time", question);

process.stderr.write(`latency: ${latencyRequests} requests one at a time…\n`);
const rawLatency = await measure(rawTopic, rawTopic, latencyRequests, "one-at-a-time", question);
const pipelineLatency = await measure("baton.requests", "baton.responses", latencyRequests, "one-at-a-time", question);
process.stderr.write(`throughput: ${throughputRequests} requests at once, a send each…\n`);
const rawThroughput = await measure(rawTopic, rawTopic, throughputRequests, "at-once", question);
const pipelineThroughput = await measure("baton.requests", "baton.responses", throughputRequests, "at-once", question);
process.stderr.write(`throughput: ${throughputRequests} requests at once, in sends of ${batchSize}…\n`);
const rawBatched = await measure(rawTopic, rawTopic, throughputRequests, { batch: batchSize }, question);
const pipelineBatched = await measure(
  "baton.requests",
  "baton.responses",
  throughputRequests,
  { batch: batchSize },
  question,
);
process.stderr.write(`throughput with one undecodable message per 10 requests…\n`);
const poisonedThroughput = await measure(
  "baton.requests",
  "baton.responses",
  throughputRequests,
  "at-once",
  question,
  10,
);

await admin.deleteTopics([rawTopic]);
await registry.deleteSubject(valueSubject(rawTopic)).catch(() => undefined);
await admin.disconnect();
await producer.disconnect();
await tracing.shutdown();

const fixed = (value: number): string => value.toFixed(1);
const perHop = pipelineLatency.p50 / hopsPerRequest;
console.log(
  `machine: ${cpus().length} cores (${cpus()[0]?.model ?? "unknown"}), node ${process.version}, ${new Date().toISOString()}`,
);
console.log(
  `raw Kafka round trip (1 hop):      p50 ${fixed(rawLatency.p50)} ms  p99 ${fixed(rawLatency.p99)} ms  ${fixed(rawThroughput.perSecond)} msg/s`,
);
console.log(
  `support workflow (${hopsPerRequest} hops, 1 tool): p50 ${fixed(pipelineLatency.p50)} ms  p99 ${fixed(pipelineLatency.p99)} ms  ${fixed(pipelineThroughput.perSecond)} req/s`,
);
console.log(
  `per hop: p50 ${fixed(perHop)} ms = ${fixed(perHop / rawLatency.p50)}x the raw round trip; throughput ${fixed(pipelineThroughput.perSecond / rawThroughput.perSecond)}x raw`,
);
console.log(
  `in sends of ${batchSize}: raw ${fixed(rawBatched.perSecond)} msg/s, support workflow ${fixed(pipelineBatched.perSecond)} req/s (p50 ${fixed(pipelineBatched.p50)} ms); throughput ${(pipelineBatched.perSecond / rawBatched.perSecond).toFixed(2)}x raw`,
);
console.log(
  `with poison pills (1 per 10 requests, dead-lettered): ${fixed(poisonedThroughput.perSecond)} req/s = ${fixed(poisonedThroughput.perSecond / pipelineThroughput.perSecond)}x the clean run`,
);
console.log(
  `aim: p50 < 25 ms end to end (${pipelineLatency.p50 < 25 ? "met" : "not met"}), 1500 req/s (${Math.max(pipelineThroughput.perSecond, pipelineBatched.perSecond) >= 1500 ? "met" : "not met"})`,
);
process.exit(0);
