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

async function measure(
  topic: string,
  watchTopic: string,
  count: number,
  concurrent: boolean,
  input: string,
  poisonEvery = 0,
) {
  const watcher = new TopicWatcher<Request | Response>({ kafka, codec, topic: watchTopic });
  await watcher.start();
  const latencies: number[] = [];
  const started = performance.now();
  const one = async (): Promise<void> => {
    const value = request(input);
    const sent = performance.now();
    await producer.send([{ topic, key: value.requestId, value }]);
    await watcher.waitFor(value.requestId, 120_000);
    latencies.push(performance.now() - sent);
  };
  const poison = async (): Promise<void> => {
    await producer.sendRaw([{ topic, key: `bench-poison-${randomUUID()}`, value: Buffer.from("not avro at all") }]);
  };
  if (concurrent) {
    await Promise.all(
      Array.from({ length: count }, (_, index) =>
        poisonEvery > 0 && index % poisonEvery === 0 ? Promise.all([poison(), one()]).then(() => undefined) : one(),
      ),
    );
  } else for (let index = 0; index < count; index += 1) await one();
  const seconds = (performance.now() - started) / 1000;
  await watcher.stop();
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), perSecond: count / seconds };
}

const question = "How long does shipping take?";
process.stderr.write(`warming up…\n`);
await measure("baton.requests", "baton.responses", 20, false, question);
await measure(rawTopic, rawTopic, 50, false, question);

process.stderr.write(`latency: ${latencyRequests} requests one at a time…\n`);
const rawLatency = await measure(rawTopic, rawTopic, latencyRequests, false, question);
const pipelineLatency = await measure("baton.requests", "baton.responses", latencyRequests, false, question);
process.stderr.write(`throughput: ${throughputRequests} requests at once…\n`);
const rawThroughput = await measure(rawTopic, rawTopic, throughputRequests, true, question);
const pipelineThroughput = await measure("baton.requests", "baton.responses", throughputRequests, true, question);
process.stderr.write(`throughput with one undecodable message per 10 requests…\n`);
const poisonedThroughput = await measure("baton.requests", "baton.responses", throughputRequests, true, question, 10);

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
  `with poison pills (1 per 10 requests, dead-lettered): ${fixed(poisonedThroughput.perSecond)} req/s = ${fixed(poisonedThroughput.perSecond / pipelineThroughput.perSecond)}x the clean run`,
);
console.log(
  `aim: p50 < 25 ms end to end (${pipelineLatency.p50 < 25 ? "met" : "not met"}), 1500 req/s (${pipelineThroughput.perSecond >= 1500 ? "met" : "not met"})`,
);
process.exit(0);
