// `npm run bench:replay`: how long `baton replay` takes for 1,000 recorded requests against how long the originals
// took. It starts the four stages (stopping the demo's), sends the requests in bursts (half the lookup flow, one tool
// call; half the support flow, three tool calls of which two have side effects), waits for every response, stops
// the stages, then replays the window in this process as `baton replay --from --to` does, unchanged, so every call
// is answered from its record. It reports; it never fails, except when a replay is not "same".
import { randomUUID } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { backboneConfigSchema, parseConfig } from "../shared/config.ts";
import { createBackbone } from "../shared/backbone.ts";
import { createLogger } from "../shared/telemetry/logger.ts";
import { BatonProducer, type OutgoingMessage } from "../shared/kafka/producer.ts";
import { TopicWatcher } from "../shared/kafka/topic-watcher.ts";
import type { Request, Response } from "../shared/schemas/records.ts";
import { startPipeline, stopPipeline, waitForInstances } from "../cli/stack/pipeline-processes.ts";
import { openClient } from "../cli/client.ts";
import { replayRequests } from "../cli/replay-command.ts";

const { values: options } = parseArgs({
  options: {
    requests: { type: "string", default: "1000" },
    burst: { type: "string", default: "100" },
    concurrency: { type: "string", default: "8" },
    "servers-file": { type: "string", default: join(import.meta.dirname, "mcp-servers.yaml") },
    json: { type: "string" },
  },
});
const total = Number(options.requests);
const burst = Number(options.burst);

const config = parseConfig(backboneConfigSchema, { OTEL_TRACES_EXPORTER: "none" });
const backbone = createBackbone("baton-replay-bench", config, createLogger({ service: "bench", level: "warn" }));
const producer = await BatonProducer.connect({
  kafka: backbone.kafka,
  codec: backbone.codec,
  tracer: backbone.tracing.tracer,
});
const responses = new TopicWatcher<Response>({
  kafka: backbone.kafka,
  codec: backbone.codec,
  topic: "baton.responses",
});
await responses.start();

await stopPipeline();
const dataDir = await mkdtemp(join(tmpdir(), "baton-replay-bench-"));
const stageEnv = {
  MCP_SERVERS_FILE: options["servers-file"],
  BATON_TOOLS_DATA_DIR: dataDir,
  OTEL_TRACES_EXPORTER: "none",
};
let stagesRunning = true;

try {
  await waitForInstances(await startPipeline(stageEnv), 90_000);
  // A few requests first, so the stages' first-call costs (connections, schema lookups) are not in the originals.
  const warmUp = Array.from({ length: 10 }, (_, index) => request(index));
  await producer.send(warmUp.map(message));
  for (const sent of warmUp) await responses.waitFor(sent.requestId, 60_000);

  const requests = Array.from({ length: total }, (_, index) => request(index));
  const from = Date.now();
  const sentAt = new Map<string, number>();
  for (let start = 0; start < requests.length; start += burst) {
    const slice = requests.slice(start, start + burst);
    const now = Date.now();
    for (const sent of slice) sentAt.set(sent.requestId, now);
    await producer.send(slice.map(message));
  }
  const to = Date.now();
  const answeredAt = new Map<string, number>();
  for (const sent of requests) {
    const response = await responses.waitFor(sent.requestId, 300_000);
    answeredAt.set(sent.requestId, response.timestamp);
  }
  const originalsWallMs = Math.max(...answeredAt.values()) - from;
  const latencies = requests.map((sent) => (answeredAt.get(sent.requestId) ?? 0) - (sentAt.get(sent.requestId) ?? 0));
  await stopPipeline();
  stagesRunning = false;

  const client = await openClient({ OTEL_TRACES_EXPORTER: "none" });
  const started = performance.now();
  const report = await replayRequests(
    client,
    [],
    { from, to, concurrency: Number(options.concurrency) },
    { ...process.env, OTEL_TRACES_EXPORTER: "none" },
  );
  const replayWallMs = performance.now() - started;
  await client.close();

  const count = (verdict: string) => report.verdicts.filter((entry) => entry.verdict === verdict).length;
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", memoryGb: Math.round(totalmem() / 2 ** 30) },
    requests: total,
    replayed: report.verdicts.length,
    same: count("same"),
    changed: count("changed"),
    failed: count("failed"),
    originals: {
      wallMs: originalsWallMs,
      summedLatencyMs: latencies.reduce((sum, latency) => sum + latency, 0),
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
    },
    replay: {
      wallMs: Math.round(replayWallMs),
      engineAndWritesMs: report.replayMs,
      readMs: Math.round(replayWallMs - report.replayMs),
      perRequestMs: Number((report.replayMs / Math.max(1, report.verdicts.length)).toFixed(2)),
    },
  };
  console.log(
    [
      `replay bench, ${results.date}, ${results.machine.cpus} CPUs (${results.machine.model}), ${results.machine.memoryGb} GB`,
      `originals: ${total} requests (half lookup, half support) sent in bursts of ${burst}: all answered in ${originalsWallMs} ms; latency p50 ${results.originals.p50Ms} ms, p99 ${results.originals.p99Ms} ms, summed ${results.originals.summedLatencyMs} ms`,
      `replay:    ${results.replayed} replayed (same ${results.same}, changed ${results.changed}, failed ${results.failed}) in ${results.replay.wallMs} ms: reading the window ${results.replay.readMs} ms, running and writing ${results.replay.engineAndWritesMs} ms (${results.replay.perRequestMs} ms a request)`,
      `replay wall time / originals' wall time: ${(results.replay.wallMs / originalsWallMs).toFixed(2)}`,
    ].join("\n"),
  );
  if (options.json !== undefined) await writeFile(options.json, JSON.stringify(results, null, 2));
  if (results.same !== total) process.exitCode = 1;
} finally {
  if (stagesRunning) await stopPipeline();
  await responses.stop();
  await producer.disconnect();
  await backbone.tracing.shutdown();
}

function request(index: number): Request {
  const supportFlow = index % 2 === 1;
  return {
    requestId: `replay-bench-${randomUUID()}`,
    tenant: "demo",
    input: supportFlow ? "My order #1234 arrived damaged and I want a refund" : "How long does shipping take?",
    workflow: "customer-support",
    metadata: supportFlow ? { customerEmail: `bench-${index}@example.com` } : {},
    submittedAt: Date.now(),
  };
}

function message(value: Request): OutgoingMessage {
  return { topic: "baton.requests", key: value.requestId, value };
}

function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0;
}
