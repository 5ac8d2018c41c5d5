// `npm run bench:scale` (and the second half of `npm run bench`): what changes of membership cost, on the demo's
// background stages. Executor scale-out (1, 2 and 4 executors with a tool that waits 50 ms and uses no CPU), the
// pause a join causes to the members that keep their partitions, and the time from the SIGTERM of one instance
// until the requests it would have handled are answered by the others. It reports; it never fails a build.
import { randomUUID } from "node:crypto";
import { cpus } from "node:os";
import { backboneConfigSchema, parseConfig } from "../shared/config.ts";
import { createBackbone } from "../shared/backbone.ts";
import { createLogger } from "../shared/telemetry/logger.ts";
import { BatonProducer } from "../shared/kafka/producer.ts";
import { TopicWatcher } from "../shared/kafka/topic-watcher.ts";
import type { Request, Response } from "../shared/schemas/records.ts";
import { bringUpStack } from "../cli/stack/stack-command.ts";
import { scaleStage, startPipeline, stopPipeline, waitForInstances } from "../cli/stack/pipeline-processes.ts";
import type { StageName } from "../cli/stage-commands.ts";

const burst = Number(process.argv[2] ?? 600);
const steadyPerSecond = 20;
// The knowledge base answers after 50 ms of waiting (no CPU): the lookup flow's one tool call.
// Info logs: starting an instance waits for its "stage running" line.
const stageEnv = { BATON_LOG_LEVEL: "info", OTEL_TRACES_EXPORTER: "none", BATON_TOOLS_FAULTS: "delay=50" };

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function lookup(): Request {
  return {
    requestId: `scale-bench-${randomUUID()}`,
    tenant: "demo",
    input: "How long does shipping take?",
    workflow: "customer-support",
    metadata: {},
    submittedAt: Date.now(),
  };
}

await bringUpStack({ quietIfRunning: true });
await stopPipeline();
await waitForInstances(await startPipeline(stageEnv), 90_000);

const config = parseConfig(backboneConfigSchema, { OTEL_TRACES_EXPORTER: "none" });
const backbone = createBackbone("baton-bench", config, createLogger({ service: "baton-bench", level: "error" }));
const { kafka, codec, tracing } = backbone;
const producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
const responses = new TopicWatcher<Response>({ kafka, codec, topic: "baton.responses" });
await responses.start();
const scale = (stage: StageName, count: number) => scaleStage(stage, count, { env: stageEnv });

/** Sends `count` requests in sends of 100 and waits for every answer; requests per second. */
async function throughput(count: number): Promise<number> {
  const values = Array.from({ length: count }, lookup);
  const started = performance.now();
  for (let start = 0; start < count; start += 100)
    await producer.send(
      values.slice(start, start + 100).map((value) => ({ topic: "baton.requests", key: value.requestId, value })),
    );
  await Promise.all(values.map((value) => responses.waitFor(value.requestId, 180_000)));
  return count / ((performance.now() - started) / 1000);
}

/** Open-loop load at a fixed rate while `during` runs: each request's send time and latency. */
async function steadyLoad(during: (mark: (label: string) => void) => Promise<void>) {
  const sent: Array<{ at: number; latency: Promise<number> }> = [];
  const marks = new Map<string, number>();
  let running = true;
  const started = performance.now();
  const sender = (async () => {
    for (let index = 0; running; index += 1) {
      const due = started + (index * 1000) / steadyPerSecond;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
      const value = lookup();
      const at = performance.now();
      await producer.send([{ topic: "baton.requests", key: value.requestId, value }]);
      sent.push({ at, latency: responses.waitFor(value.requestId, 120_000).then(() => performance.now() - at) });
    }
  })();
  await during((label) => marks.set(label, performance.now()));
  running = false;
  await sender;
  const latencies = await Promise.all(sent.map(async ({ at, latency }) => ({ at, latency: await latency })));
  return { latencies, marks };
}

const worst = (latencies: Array<{ at: number; latency: number }>, from: number, to: number): number =>
  Math.max(0, ...latencies.filter(({ at }) => at >= from && at < to).map(({ latency }) => latency));

process.stderr.write(`warming up…\n`);
await throughput(100);

const scaleOut = new Map<number, number>();
for (const executors of [1, 2, 4]) {
  await scale("executor", executors);
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  process.stderr.write(`executor scale-out: ${executors} executor(s), ${burst} lookups in sends of 100…\n`);
  scaleOut.set(executors, await throughput(burst));
}
await scale("executor", 1);

process.stderr.write(
  `membership changes under ${steadyPerSecond} req/s: a planner joins, then one leaves on SIGTERM…\n`,
);
const { latencies, marks } = await steadyLoad(async (mark) => {
  await new Promise((resolve) => setTimeout(resolve, 8_000));
  mark("join");
  await scale("planner", 2);
  mark("joined");
  await new Promise((resolve) => setTimeout(resolve, 8_000));
  mark("leave");
  await scale("planner", 1);
  mark("left");
  await new Promise((resolve) => setTimeout(resolve, 8_000));
});
const join = marks.get("join") ?? 0;
const joined = marks.get("joined") ?? 0;
const leave = marks.get("leave") ?? 0;
const left = marks.get("left") ?? 0;
const before = latencies.filter(({ at }) => at < join).map(({ latency }) => latency);
const baselineP50 = percentile(before, 50);
const baselineP99 = percentile(before, 99);
const joinWorst = worst(latencies, join, joined + 2_000);
const leaveWorst = worst(latencies, leave, left + 2_000);

await responses.stop();
await producer.disconnect();
await tracing.shutdown();

const fixed = (value: number): string => value.toFixed(1);
const one = scaleOut.get(1) ?? Number.NaN;
console.log(
  `machine: ${cpus().length} cores (${cpus()[0]?.model ?? "unknown"}), node ${process.version}, ${new Date().toISOString()}`,
);
console.log(
  `executor scale-out (tool waits 50 ms, no CPU): 1 → ${fixed(one)} req/s; 2 → ${fixed(scaleOut.get(2) ?? Number.NaN)} req/s = ${((scaleOut.get(2) ?? Number.NaN) / one).toFixed(2)}x; 4 → ${fixed(scaleOut.get(4) ?? Number.NaN)} req/s = ${((scaleOut.get(4) ?? Number.NaN) / one).toFixed(2)}x (aim: 4 ≥ 3.6x)`,
);
console.log(
  `steady ${steadyPerSecond} req/s before any change: p50 ${fixed(baselineP50)} ms, p99 ${fixed(baselineP99)} ms`,
);
console.log(
  `a planner joins: worst latency of requests sent while it joined ${fixed(joinWorst)} ms = a pause of about ${fixed(Math.max(0, joinWorst - baselineP50))} ms for the members that keep their partitions (aim: none)`,
);
console.log(
  `a planner leaves (SIGTERM): worst latency of requests sent from the SIGTERM on ${fixed(leaveWorst)} ms; its partitions are processed again within about ${fixed(Math.max(0, leaveWorst - baselineP50) / 1000)} s (aim: < 5 s); SIGTERM to exit ${fixed((left - leave) / 1000)} s`,
);
process.exit(0);
