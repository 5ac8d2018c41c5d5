// `npm run bench:open-loop` (and the last part of `npm run bench`): latency under steady load. Requests go to
// baton.requests on a fixed schedule whatever the answers do (open loop), at fixed rates, for the lookup flow (one
// tool call, seven hops) and the support flow (three tool calls, two policy passes); latency counts from each
// request's intended send time to its response on baton.responses. Beside each rate, the raw round trip with the same
// client at the same rate; CPU per request of the broker and each stage from /proc; the highest lookup rate sustained;
// where a lookup's time goes hop by hop; and what tracing at the default sampling costs. It reports; it never fails.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { backboneConfigSchema, parseConfig } from "../shared/config.ts";
import { createBackbone } from "../shared/backbone.ts";
import { createLogger } from "../shared/telemetry/logger.ts";
import { BatonProducer, type OutgoingMessage } from "../shared/kafka/producer.ts";
import { BatonAdmin } from "../shared/kafka/admin.ts";
import { TopicWatcher } from "../shared/kafka/topic-watcher.ts";
import { requestPartitions } from "../shared/topics.ts";
import { valueSubject } from "../shared/schemas/registry.ts";
import { readAvroFiles } from "../shared/schemas/avro-files.ts";
import type { Request, Response } from "../shared/schemas/records.ts";
import { bringUpStack } from "../cli/stack/stack-command.ts";
import { stackStatus } from "../cli/stack/stack.ts";
import { stackVersions } from "../cli/stack/stack-services.ts";
import { startPipeline, stopPipeline, waitForInstances } from "../cli/stack/pipeline-processes.ts";
import { percentile, runOpenLoop, type OpenLoopResult } from "./open-loop-load.ts";
import { cpuBetween, descendantsOf, sampleCpu, sampleThreads, type ProcessGroups } from "./process-cpu.ts";

const usage = `usage: node bench/open-loop-bench.ts [--rates 50,100,200] [--seconds 15] [--raw-seconds 10]
  [--flows lookup,support] [--sustained 400,800,1200,1500] [--sustained-seconds 10] [--hops-rate 100]
  [--tracing-rate 200] [--tracing-seconds 12] [--skip sustained,hops,tracing] [--servers-file bench/mcp-servers.yaml]
  [--profile-dir DIR] [--json results.json]
--profile-dir starts the stages under node --cpu-prof, writing one .cpuprofile per process there as it stops
(read them with bench/cpu-profile-top.ts).`;

const { values: options } = parseArgs({
  options: {
    rates: { type: "string", default: "50,100,200" },
    seconds: { type: "string", default: "15" },
    "raw-seconds": { type: "string", default: "10" },
    flows: { type: "string", default: "lookup,support" },
    sustained: { type: "string", default: "400,800,1200,1500" },
    "sustained-seconds": { type: "string", default: "10" },
    "hops-rate": { type: "string", default: "100" },
    "tracing-rate": { type: "string", default: "200" },
    "tracing-seconds": { type: "string", default: "12" },
    skip: { type: "string", default: "" },
    "servers-file": { type: "string", default: join(import.meta.dirname, "mcp-servers.yaml") },
    "profile-dir": { type: "string" },
    json: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (options.help) {
  console.log(usage);
  process.exit(0);
}
const numbers = (text: string): number[] =>
  text
    .split(",")
    .filter((part) => part.trim() !== "")
    .map(Number);
const rates = numbers(options.rates);
const stepMs = Number(options.seconds) * 1000;
const rawMs = Number(options["raw-seconds"]) * 1000;
const sustainedRates = numbers(options.sustained);
const sustainedMs = Number(options["sustained-seconds"]) * 1000;
const hopsRate = Number(options["hops-rate"]);
const tracingRate = Number(options["tracing-rate"]);
const tracingMs = Number(options["tracing-seconds"]) * 1000;
const skipped = new Set(options.skip.split(","));
const flowNames = options.flows.split(",").filter((name): name is FlowName => name === "lookup" || name === "support");
if ([...rates, stepMs, rawMs, ...sustainedRates, hopsRate, tracingRate].some((value) => !(value > 0))) {
  console.error(usage);
  process.exit(2);
}
/** A fixed-rate step's answers may come this long after its last send; later ones count as lost. */
const drainMs = 15_000;
/** The sustained step holds when all is answered this soon after its last send and p99 stays under the bound. */
const sustainedDrainMs = 5_000;
const sustainedP99BoundMs = 2_000;

type FlowName = "lookup" | "support";

/** The two flows, with the demo's inputs (cli/demo-command.ts demoRequests) and what a right answer looks like. */
const flows: Record<FlowName, { input: string; metadata: Record<string, string>; toolSteps: number }> = {
  lookup: { input: "How long does shipping take?", metadata: {}, toolSteps: 1 },
  support: {
    input: "My order #1234 arrived damaged and I want a refund",
    metadata: { customerEmail: "ann@example.com" },
    toolSteps: 3,
  },
};

const toolsDataDir = await mkdtemp(join(tmpdir(), "baton-open-loop-tools-"));
const stageEnv = (tracing: boolean): Record<string, string> => ({
  // Info: starting an instance waits for its "stage running" line.
  BATON_LOG_LEVEL: "info",
  // "none" still creates and propagates spans, it exports none; "zipkin" at the default sampler exports a tenth.
  OTEL_TRACES_EXPORTER: tracing ? "zipkin" : "none",
  BATON_TOOLS_DATA_DIR: toolsDataDir,
  MCP_SERVERS_FILE: options["servers-file"],
  ...(options["profile-dir"] === undefined
    ? {}
    : {
        NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${options["profile-dir"]}`,
      }),
});

/** Starts the four stages (the demo's, stopped first: they share the consumer groups) and names their processes. */
async function startStages(tracing: boolean): Promise<ProcessGroups> {
  await stopPipeline();
  const instances = await startPipeline(stageEnv(tracing));
  await waitForInstances(instances, 90_000);
  // The executor starts its MCP servers as it connects, before it says it runs.
  const groups = new Map<string, number[]>();
  const status = await stackStatus();
  const broker = status.services.find((service) => service.name === "kafka")?.pid;
  if (broker !== null && broker !== undefined) groups.set("broker", [broker]);
  for (const instance of instances) if (instance.pid !== null) groups.set(instance.stage, [instance.pid]);
  const executor = instances.find((instance) => instance.stage === "executor")?.pid;
  if (executor !== null && executor !== undefined) groups.set("tool servers", await descendantsOf(executor));
  const zipkin = status.services.find((service) => service.name === "zipkin")?.pid;
  if (tracing && zipkin !== null && zipkin !== undefined) groups.set("zipkin", [zipkin]);
  return groups;
}

let stagesStarted = false;
async function stopStages(): Promise<void> {
  if (stagesStarted) await stopPipeline();
  stagesStarted = false;
}
process.once("SIGINT", () => {
  void stopStages().finally(() => process.exit(130));
});
process.once("uncaughtException", (error) => {
  process.stderr.write(`${error.stack ?? String(error)}\n`);
  void stopStages().finally(() => process.exit(1));
});

/** Runs `attempt` until it succeeds, up to `tries` times, 500 ms apart (a topic just created has no leader yet). */
async function retried<T>(attempt: () => Promise<T>, tries = 10): Promise<T> {
  for (let count = 1; ; count += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (count >= tries) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

await bringUpStack({ quietIfRunning: true });
process.stderr.write("starting the four stages (tracing off)…\n");
stagesStarted = true;
let groups = await startStages(false);

const config = parseConfig(backboneConfigSchema, { OTEL_TRACES_EXPORTER: "none" });
const backbone = createBackbone("baton-bench", config, createLogger({ service: "baton-bench", level: "error" }));
const { kafka, codec, tracing, registry } = backbone;
const producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
const admin = await BatonAdmin.connect(kafka);

// Raw round trip: the same producer and codec on a one-hop topic with as many partitions as the pipeline's topics.
const rawTopic = `bench.open-loop.${randomUUID().slice(0, 8)}`;
await admin.applyTopics([
  {
    name: rawTopic,
    partitions: requestPartitions,
    config: { "retention.ms": "600000" },
    valueRecord: "baton.Request",
    role: "main",
  },
]);
const requestSchema = (await readAvroFiles()).get("baton.Request");
if (requestSchema === undefined) throw new Error("schemas/request.avsc missing");
await registry.apply(valueSubject(rawTopic), requestSchema);
const rawWatcher = new TopicWatcher<Request>({ kafka, codec, topic: rawTopic });
const responses = new TopicWatcher<Response>({ kafka, codec, topic: "baton.responses" });
await Promise.all([retried(() => rawWatcher.start()), retried(() => responses.start())]);

/** Responses that came back other than a right answer (refused, failed, or with fewer tool steps than the flow's). */
const unexpected = new Map<FlowName, number>();
/** Requests sent and not answered yet, late ones included: a step starts once the last one's backlog is gone. */
let outstanding = 0;
/** Waits until every request sent so far is answered, at most `maxMs`; how many were still out then. */
async function settle(maxMs = 45_000): Promise<number> {
  const deadline = performance.now() + maxMs;
  if (outstanding > 0) process.stderr.write(`waiting for ${outstanding} answers still out…\n`);
  while (outstanding > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
  return outstanding;
}
/** Waits for the response to `key`, counted in {@link outstanding} until it comes or times out. */
async function response(key: string, timeoutMs: number) {
  outstanding += 1;
  try {
    return await responses.waitFor(key, timeoutMs);
  } finally {
    outstanding -= 1;
  }
}

/** Epoch ms each request's response reached the benchmark, for the hop breakdown. */
const receivedAt = new Map<string, number>();

function request(flow: FlowName): Request {
  return {
    requestId: `open-loop-${flow}-${randomUUID()}`,
    tenant: "demo",
    input: flows[flow].input,
    workflow: flow === "lookup" ? "customer-support" : null,
    metadata: flows[flow].metadata,
    submittedAt: Date.now(),
  };
}

/** A result and the CPU each process group used over it. */
interface Measured extends OpenLoopResult {
  cpuMs: Map<string, number>;
  /** CPU ms per request of each group, less what it uses idle over the same time. */
  netCpuMs: Map<string, number>;
  /** CPU ms per request of the broker's threads, by role, busiest first. */
  brokerThreadsMs: Array<[string, number]>;
}

/** The broker's threads' CPU so far, by role (empty when the broker is not ours to see). */
async function brokerThreads(): Promise<Map<string, number>> {
  const broker = groups.get("broker")?.[0];
  return broker === undefined ? new Map() : sampleThreads(broker);
}

/** CPU ms per second each group uses with no requests coming (the broker's own housekeeping, polls, timers). */
let idleCpuPerSecond = new Map<string, number>();
async function measureIdle(seconds = 5): Promise<void> {
  await settle();
  const before = await sampleCpu(groups);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const used = cpuBetween(before, await sampleCpu(groups));
  idleCpuPerSecond = new Map([...used].map(([name, ms]) => [name, ms / seconds]));
}

/** Adds to a result the CPU its groups used since `before` (sampled at `startedAt`), gross and net of idle. */
async function withCpu(
  result: OpenLoopResult,
  before: Map<string, number>,
  startedAt: number,
  threadsBefore: Map<string, number>,
): Promise<Measured> {
  const cpuMs = cpuBetween(before, await sampleCpu(groups));
  const brokerThreadsMs = [...cpuBetween(threadsBefore, await brokerThreads())]
    .map(([role, ms]): [string, number] => [role, ms / Math.max(1, result.answered)])
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1]);
  const seconds = (performance.now() - startedAt) / 1000;
  const netCpuMs = new Map(
    [...cpuMs].map(([name, ms]) => [
      name,
      (ms - (idleCpuPerSecond.get(name) ?? 0) * seconds) / Math.max(1, result.answered),
    ]),
  );
  return { ...result, cpuMs, netCpuMs, brokerThreadsMs };
}

async function measure(target: FlowName | "raw", rate: number, durationMs: number, drain = drainMs) {
  const stillOut = await settle();
  if (stillOut > 0) process.stderr.write(`${stillOut} answers of earlier steps still out; going on\n`);
  const before = await sampleCpu(groups);
  const threadsBefore = await brokerThreads();
  const startedAt = performance.now();
  const result = await runOpenLoop({
    rate,
    durationMs,
    drainMs: drain,
    message: (): OutgoingMessage => {
      const value = request(target === "raw" ? "lookup" : target);
      return { topic: target === "raw" ? rawTopic : "baton.requests", key: value.requestId, value };
    },
    awaitAnswer: async (key, timeoutMs) => {
      if (target === "raw") return rawWatcher.waitFor(key, timeoutMs);
      const answer = await response(key, timeoutMs);
      receivedAt.set(key, Date.now());
      const { status, steps } = answer.value;
      const succeeded = steps.filter((step) => step.status === "SUCCEEDED").length;
      if (status !== "ANSWERED" || succeeded < flows[target].toolSteps)
        unexpected.set(target, (unexpected.get(target) ?? 0) + 1);
      return answer;
    },
    send: (messages) => producer.send(messages),
  });
  return withCpu(result, before, startedAt, threadsBefore);
}

const fixed = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : "-");
const p = (result: OpenLoopResult, at: number): number => percentile(result.latencies, at);
function line(label: string, result: OpenLoopResult): string {
  return `${label}: sent ${result.sent} at ${fixed(result.achievedRate)}/s, answered ${result.answered}, lost ${result.lost}; p50 ${fixed(p(result, 50))} p90 ${fixed(p(result, 90))} p99 ${fixed(p(result, 99))} max ${fixed(result.latencies.at(-1) ?? Number.NaN)} ms; sender lag p99 ${fixed(result.sendLagP99)} ms`;
}
const baton = (cpu: Map<string, number>): number =>
  [...cpu].filter(([name]) => name !== "bench" && name !== "zipkin").reduce((sum, [, ms]) => sum + ms, 0);
function cpuLine(result: Measured): string {
  const per = (ms: number) => fixed(ms / Math.max(1, result.answered), 2);
  const net = result.netCpuMs;
  const parts = [...result.cpuMs].map(([name, ms]) => `${name} ${per(ms)} (${fixed(net.get(name) ?? 0, 2)})`);
  const threads = result.brokerThreadsMs.slice(0, 5).map(([role, ms]) => `${role} ${fixed(ms, 2)}`);
  return `  CPU ms/request (net of idle): ${parts.join(", ")}; Baton + broker ${per(baton(result.cpuMs))} (${fixed(baton(net), 2)})\n  broker threads, CPU ms/request: ${threads.join(", ")}`;
}

const fixedRate: Array<{ rate: number; raw: Measured; flows: Partial<Record<FlowName, Measured>> }> = [];
let hops: Array<{ label: string; p50: number; p99: number }> = [];
const sustained: Array<{ rate: number; result: Measured; held: boolean }> = [];
const tracingRuns: Partial<Record<"off" | "on" | "off again", Measured>> = {};

/** Every step, in order; the stages are stopped afterwards whatever happens. */
async function runSteps(): Promise<void> {
  process.stderr.write("warming up…\n");
  await measure("raw", 50, 3_000, 5_000);
  for (const flow of flowNames) await measure(flow, 50, 4_000, 10_000);
  await measureIdle();
  console.log(`idle CPU ms/s: ${[...idleCpuPerSecond].map(([name, ms]) => `${name} ${fixed(ms)}`).join(", ")}`);

  for (const rate of rates) {
    process.stderr.write(`${rate} req/s: raw round trip ${rawMs / 1000} s…\n`);
    const raw = await measure("raw", rate, rawMs);
    const entry: (typeof fixedRate)[number] = { rate, raw, flows: {} };
    console.log(line(`raw round trip ${rate}/s`, raw));
    console.log(cpuLine(raw));
    for (const flow of flowNames) {
      process.stderr.write(`${rate} req/s: ${flow} flow ${stepMs / 1000} s…\n`);
      const result = await measure(flow, rate, stepMs);
      entry.flows[flow] = result;
      console.log(line(`${flow} ${rate}/s`, result));
      console.log(
        `  vs raw: p50 ${fixed(p(result, 50) / p(raw, 50))}x, p99 ${fixed(p(result, 99) / p(raw, 99))}x; ${unexpected.get(flow) ?? 0} unexpected answers so far`,
      );
      console.log(cpuLine(result));
    }
    fixedRate.push(entry);
  }

  /** Kafka CreateTime of each lookup's message on each of its hops, then its arrival at the benchmark. */
  const hopTopics = [
    "baton.requests",
    "baton.tool-calls",
    "baton.allowed-calls",
    "baton.tool-results",
    "baton.completed-runs",
    "baton.drafts",
    "baton.responses",
  ] as const;
  const hopLabels = [
    "planner: request → tool call",
    "policy: tool call → allowed call",
    "executor: allowed call → tool result (one MCP call)",
    "planner: tool result → completed run",
    "summarizer: completed run → draft",
    "policy: draft → response",
    "response produced → read by the client",
  ];
  if (!skipped.has("hops")) {
    await settle();
    process.stderr.write(`where a lookup's time goes: ${hopsRate} req/s for 10 s, every hop watched…\n`);
    const watchers = hopTopics.slice(0, -1).map((topic) => new TopicWatcher<unknown>({ kafka, codec, topic }));
    await Promise.all(watchers.map((watcher) => watcher.start()));
    const sentKeys: string[] = [];
    const before = await sampleCpu(groups);
    const threadsBefore = await brokerThreads();
    const startedAt = performance.now();
    const result = await runOpenLoop({
      rate: hopsRate,
      durationMs: 10_000,
      drainMs,
      message: () => {
        const value = request("lookup");
        sentKeys.push(value.requestId);
        return { topic: "baton.requests", key: value.requestId, value };
      },
      awaitAnswer: async (key, timeoutMs) => {
        const answer = await response(key, timeoutMs);
        receivedAt.set(key, Date.now());
        return answer;
      },
      send: (messages) => producer.send(messages),
    });
    console.log(line(`lookup ${hopsRate}/s with every hop watched`, result));
    console.log(cpuLine(await withCpu(result, before, startedAt, threadsBefore)));
    const perHop: number[][] = hopLabels.map(() => []);
    for (const key of sentKeys) {
      const times = [
        ...watchers.map((watcher) => watcher.latest(key)?.timestamp),
        responses.latest(key)?.timestamp,
        receivedAt.get(key),
      ];
      if (times.some((time) => time === undefined)) continue;
      for (let hop = 0; hop < hopLabels.length; hop += 1) perHop[hop]?.push((times[hop + 1] ?? 0) - (times[hop] ?? 0));
    }
    hops = hopLabels.map((label, hop) => {
      const sorted = (perHop[hop] ?? []).sort((a, b) => a - b);
      return { label, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
    });
    console.log(
      `  per hop (Kafka CreateTime of each hop's message; ${perHop[0]?.length ?? 0} requests), p50 / p99 ms:`,
    );
    for (const hop of hops) console.log(`    ${hop.label.padEnd(52)} ${fixed(hop.p50)} / ${fixed(hop.p99)}`);
    await Promise.all(watchers.map((watcher) => watcher.stop()));
  }

  if (!skipped.has("sustained")) {
    for (const rate of sustainedRates) {
      process.stderr.write(`sustained: lookup at ${rate} req/s for ${sustainedMs / 1000} s…\n`);
      const result = await measure("lookup", rate, sustainedMs, sustainedDrainMs);
      const held = result.lost === 0 && p(result, 99) < sustainedP99BoundMs && result.achievedRate >= 0.95 * rate;
      sustained.push({ rate, result, held });
      console.log(line(`sustained lookup ${rate}/s`, result));
      console.log(
        `  answers ${fixed(result.answersPerSecond)}/s; drained ${fixed(result.drainedMs / 1000)} s after the last send; ${held ? "held" : "fell behind"}`,
      );
      console.log(cpuLine(result));
      if (!held) {
        break;
      }
    }
  }
  if (!skipped.has("tracing")) {
    // Each on freshly started stages, off before and after on, so a restart's cold start weighs on all alike.
    for (const mode of ["off", "on", "off again"] as const) {
      process.stderr.write(`restarting the stages with tracing ${mode}…\n`);
      groups = await startStages(mode === "on");
      await measure("lookup", 50, 4_000, 10_000);
      await measureIdle();
      process.stderr.write(`tracing ${mode}: lookup at ${tracingRate} req/s for ${tracingMs / 1000} s…\n`);
      const result = await measure("lookup", tracingRate, tracingMs);
      tracingRuns[mode] = result;
      console.log(line(`tracing ${mode}, lookup ${tracingRate}/s`, result));
      console.log(cpuLine(result));
    }
  }
}

try {
  await runSteps();
} finally {
  await stopStages();
}
const sustainedRate = Math.max(0, ...sustained.filter((step) => step.held).map((step) => step.rate));
await Promise.all([rawWatcher.stop(), responses.stop()]);
await admin.deleteTopics([rawTopic]);
await registry.deleteSubject(valueSubject(rawTopic)).catch(() => undefined);
await admin.disconnect();
await producer.disconnect();
await tracing.shutdown();
await rm(toolsDataDir, { recursive: true, force: true });

console.log("");
console.log(
  `machine: ${cpus().length} cores (${cpus()[0]?.model ?? "unknown"}), ${fixed(totalmem() / 2 ** 30, 0)} GiB, node ${process.version}, Kafka ${stackVersions.kafka}, ${new Date().toISOString()}`,
);
for (const flow of flowNames) {
  console.log(
    `${flow} flow, open loop (${stepMs / 1000} s per rate; raw round trip ${rawMs / 1000} s at the same rate):`,
  );
  console.log(
    "  rate | p50 | p90 | p99 | max | answered/sent | raw p50 | raw p99 | p50 x raw | p99 x raw | CPU ms/req",
  );
  for (const { rate, raw, flows: measured } of fixedRate) {
    const result = measured[flow];
    if (result === undefined) continue;
    console.log(
      `  ${rate} | ${fixed(p(result, 50))} | ${fixed(p(result, 90))} | ${fixed(p(result, 99))} | ${fixed(result.latencies.at(-1) ?? Number.NaN)} | ${result.answered}/${result.sent} | ${fixed(p(raw, 50))} | ${fixed(p(raw, 99))} | ${fixed(p(result, 50) / p(raw, 50))} | ${fixed(p(result, 99) / p(raw, 99))} | ${fixed(baton(result.cpuMs) / Math.max(1, result.answered), 2)} (${fixed(baton(result.netCpuMs), 2)})`,
    );
  }
  console.log(`  unexpected answers: ${unexpected.get(flow) ?? 0}`);
}
const fellBehind = sustained.find((step) => !step.held);
if (sustained.length > 0)
  console.log(
    `sustained lookup rate (all answered within ${sustainedDrainMs / 1000} s of the last send, p99 < ${sustainedP99BoundMs / 1000} s): ${sustainedRate > 0 ? `${sustainedRate} req/s` : `below ${sustainedRates[0]} req/s`}${fellBehind === undefined ? "" : `; at ${fellBehind.rate} req/s it answered ${fixed(fellBehind.result.answersPerSecond)}/s`} (aim: ≥ 1500)`,
  );
const tracingOff = [tracingRuns.off, tracingRuns["off again"]].filter((run) => run !== undefined);
if (tracingOff.length > 0 && tracingRuns.on !== undefined) {
  const { on } = tracingRuns;
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  const offCpu = mean(tracingOff.map((run) => baton(run.netCpuMs)));
  const onCpu = baton(on.netCpuMs);
  const zipkinCpu = on.netCpuMs.get("zipkin") ?? 0;
  const offLatency = tracingOff.map((run) => `p50 ${fixed(p(run, 50))} p99 ${fixed(p(run, 99))}`).join(" and ");
  console.log(
    `tracing at ${tracingRate} req/s: off ${offLatency} ms, ${fixed(offCpu, 2)} CPU ms/req net of idle; on p50 ${fixed(p(on, 50))} p99 ${fixed(p(on, 99))} ms, ${fixed(onCpu, 2)} CPU ms/req (+ Zipkin ${fixed(zipkinCpu, 2)}): CPU-bound throughput ${fixed((1 - offCpu / onCpu) * 100)} % lower (aim: ≤ 10 %)`,
  );
}
const worst200 = fixedRate.find((entry) => entry.rate === 200);
if (worst200 !== undefined)
  for (const flow of flowNames) {
    const result = worst200.flows[flow];
    if (result !== undefined)
      console.log(
        `aim at 200 req/s, ${flow}: p50 ≤ 25 ms (${p(result, 50) <= 25 ? "met" : "not met"}), p99 ≤ 100 ms (${p(result, 99) <= 100 ? "met" : "not met"})`,
      );
  }

if (options.json !== undefined) {
  const summary = (result: Measured) => ({
    rate: result.rate,
    sent: result.sent,
    answered: result.answered,
    lost: result.lost,
    achievedRate: result.achievedRate,
    p50: p(result, 50),
    p90: p(result, 90),
    p99: p(result, 99),
    max: result.latencies.at(-1) ?? null,
    sendLagP99: result.sendLagP99,
    drainedMs: result.drainedMs,
    answersPerSecond: result.answersPerSecond,
    cpuMsPerRequest: Object.fromEntries(
      [...result.cpuMs].map(([name, ms]) => [name, ms / Math.max(1, result.answered)]),
    ),
    netCpuMsPerRequest: Object.fromEntries(result.netCpuMs),
    brokerThreadsMsPerRequest: Object.fromEntries(result.brokerThreadsMs),
  });
  await writeFile(
    options.json,
    `${JSON.stringify(
      {
        machine: { cores: cpus().length, model: cpus()[0]?.model, memoryBytes: totalmem(), node: process.version },
        at: new Date().toISOString(),
        fixedRate: fixedRate.map((entry) => ({
          rate: entry.rate,
          raw: summary(entry.raw),
          flows: Object.fromEntries(Object.entries(entry.flows).map(([flow, result]) => [flow, summary(result)])),
        })),
        unexpected: Object.fromEntries(unexpected),
        hops,
        sustained: sustained.map((step) => ({ held: step.held, ...summary(step.result) })),
        sustainedRate,
        tracing: Object.fromEntries(Object.entries(tracingRuns).map(([mode, result]) => [mode, summary(result)])),
      },
      null,
      2,
    )}\n`,
  );
}
process.exit(0);
