// `node bench/open-loop-ab.ts --variant old=/path/to/old/checkout --variant new=.`: the open-loop lookup and support flows against
// two (or more) checkouts of Baton, alternated on the same stack in one run, so a change is judged against the code
// before it on the same machine at the same time. For each round, each variant's four stages are started from its
// checkout (shipped configuration, tracing off, bench/mcp-servers.yaml), warmed up, and measured at each rate: the raw
// round trip with the same client at that rate, then each flow: lookup (one tool call, seven hops) and support (three
// tool calls, two policy passes). The order of the
// variants flips every round. It reports ratios to the raw round trip of the same step; it never fails.
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { writeFile } from "node:fs/promises";
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
import {
  stagesDirectory,
  stopPipeline,
  waitForInstances,
  type StartedInstance,
} from "../cli/stack/pipeline-processes.ts";
import { instanceArguments, instanceFileNames, instanceMetricsPort } from "../cli/stack/stage-instances.ts";
import { spawnDetached } from "../cli/stack/process-control.ts";
import { writePidFile } from "../cli/stack/pid-file.ts";
import { stageNames } from "../cli/stage-commands.ts";
import { percentile, runOpenLoop, type OpenLoopResult } from "./open-loop-load.ts";
import { cpuBetween, descendantsOf, sampleCpu, type ProcessGroups } from "./process-cpu.ts";

const usage = `usage: node bench/open-loop-ab.ts --variant NAME=DIR [--variant NAME=DIR …] [--rounds 2]
  [--rates 50,100,200] [--seconds 10] [--raw-seconds 5] [--drain-seconds 15] [--flows lookup,support]
  [--stages planner,policy,executor,summarizer] [--stage-env [NAME:]KEY=VALUE …] [--json results.json]
Each DIR is a checkout of Baton (its stages are started from DIR/cli/main.ts with DIR as working directory); two
variants may share a DIR and differ in --stage-env (NAME: limits a setting to one variant).`;

const { values: options } = parseArgs({
  options: {
    variant: { type: "string", multiple: true, default: [] },
    rounds: { type: "string", default: "2" },
    rates: { type: "string", default: "50,100,200" },
    seconds: { type: "string", default: "10" },
    "raw-seconds": { type: "string", default: "5" },
    // A step ends when every request is answered or this long after its last send; what is still in the pipeline
    // then would load the next step (and the next variant), so give saturating rates time.
    "drain-seconds": { type: "string", default: "15" },
    flows: { type: "string", default: "lookup,support" },
    // The gateway is left out by default: the requests here do not pass it, and older checkouts have none.
    stages: { type: "string", default: "planner,policy,executor,summarizer" },
    "stage-env": { type: "string", multiple: true, default: [] },
    json: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (options.help) {
  console.log(usage);
  process.exit(0);
}
const variants = options.variant.map((text) => {
  const at = text.indexOf("=");
  return { name: text.slice(0, at), root: resolve(text.slice(at + 1)) };
});
const rates = options.rates.split(",").map(Number);
type FlowName = "lookup" | "support";
const flowNames = options.flows.split(",").filter((name): name is FlowName => name === "lookup" || name === "support");
const startedStages = options.stages
  .split(",")
  .filter((name): name is (typeof stageNames)[number] => (stageNames as readonly string[]).includes(name));
const rounds = Number(options.rounds);
const stepMs = Number(options.seconds) * 1000;
const rawMs = Number(options["raw-seconds"]) * 1000;
/** Extra stage settings per variant name ("" for every variant). */
const extraEnv = options["stage-env"].map((text) => {
  const equals = text.indexOf("=");
  const colon = text.slice(0, equals).indexOf(":");
  return {
    variant: colon < 0 ? "" : text.slice(0, colon),
    key: text.slice(colon + 1, equals),
    value: text.slice(equals + 1),
  };
});
const envFor = (variant: string): Record<string, string> =>
  Object.fromEntries(
    extraEnv.filter((entry) => entry.variant === "" || entry.variant === variant).map((e) => [e.key, e.value]),
  );
if (
  variants.length === 0 ||
  variants.some((variant) => variant.name === "") ||
  [...rates, rounds, stepMs, rawMs].some((value) => !(value > 0))
) {
  console.error(usage);
  process.exit(2);
}
for (const variant of variants)
  if (!(await stat(join(variant.root, "cli", "main.ts")).catch(() => undefined))) {
    console.error(`${variant.root} holds no cli/main.ts: not a checkout of Baton`);
    process.exit(2);
  }

/** A lookup's answer may come this long after the step's last send; later ones count as lost. */
const drainMs = Number(options["drain-seconds"]) * 1000;
const toolsDataDir = await mkdtemp(join(tmpdir(), "baton-open-loop-ab-tools-"));
const stageEnv: Record<string, string> = {
  BATON_LOG_LEVEL: "info",
  OTEL_TRACES_EXPORTER: "none",
  BATON_TOOLS_DATA_DIR: toolsDataDir,
  MCP_SERVERS_FILE: join(import.meta.dirname, "mcp-servers.yaml"),
};

/** Starts instance 1 of every stage from the checkout at `root`, as `baton demo` starts them from this one. */
async function startStagesFrom(root: string, env: Record<string, string>): Promise<ProcessGroups> {
  await stopPipeline();
  const directory = stagesDirectory();
  await mkdir(directory, { recursive: true });
  const instances: StartedInstance[] = [];
  for (const stage of startedStages) {
    const files = instanceFileNames(stage, 1);
    const pidFile = join(directory, files.pidFile);
    const logFile = join(directory, files.logFile);
    const logOffset = await stat(logFile).then(
      (info) => info.size,
      () => 0,
    );
    const metricsPort = instanceMetricsPort(stage, 1);
    const pid = await spawnDetached(
      process.execPath,
      ["--disable-warning=TimeoutNegativeWarning", join(root, "cli", "main.ts"), stage, ...instanceArguments(stage, 1)],
      { cwd: root, logFile, env: { ...process.env, ...stageEnv, ...env, METRICS_PORT: String(metricsPort) } },
    );
    await writePidFile(pidFile, pid);
    instances.push({ stage, instance: 1, legacy: false, pid, running: true, metricsPort, pidFile, logFile, logOffset });
  }
  await waitForInstances(instances, 120_000);
  const groups = new Map<string, number[]>();
  const broker = (await stackStatus()).services.find((service) => service.name === "kafka")?.pid;
  if (broker !== null && broker !== undefined) groups.set("broker", [broker]);
  for (const instance of instances) if (instance.pid !== null) groups.set(instance.stage, [instance.pid]);
  const executor = instances.find((instance) => instance.stage === "executor")?.pid;
  if (executor !== null && executor !== undefined) groups.set("tool servers", await descendantsOf(executor));
  return groups;
}

let stagesRunning = false;
process.once("SIGINT", () => {
  void (stagesRunning ? stopPipeline() : Promise.resolve()).finally(() => process.exit(130));
});

await bringUpStack({ quietIfRunning: true });
const config = parseConfig(backboneConfigSchema, { OTEL_TRACES_EXPORTER: "none" });
const backbone = createBackbone("baton-bench", config, createLogger({ service: "baton-bench", level: "error" }));
const { kafka, codec, tracing, registry } = backbone;
const producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
const admin = await BatonAdmin.connect(kafka);
const rawTopic = `bench.open-loop-ab.${randomUUID().slice(0, 8)}`;
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
await Promise.all([rawWatcher.start(), responses.start()]);

let groups: ProcessGroups = new Map();
let unexpected = 0;

/** The two flows, with the demo's inputs (as bench/open-loop-bench.ts sends them) and how many tool steps succeed. */
const flows: Record<FlowName, { input: string; metadata: Record<string, string>; toolSteps: number }> = {
  lookup: { input: "How long does shipping take?", metadata: {}, toolSteps: 1 },
  support: {
    input: "My order #1234 arrived damaged and I want a refund",
    metadata: { customerEmail: "ann@example.com" },
    toolSteps: 3,
  },
};

function request(flow: FlowName): Request {
  return {
    requestId: `open-loop-ab-${flow}-${randomUUID()}`,
    tenant: "demo",
    input: flows[flow].input,
    workflow: flow === "lookup" ? "customer-support" : null,
    metadata: flows[flow].metadata,
    submittedAt: Date.now(),
  };
}

interface Measured extends OpenLoopResult {
  /** CPU ms per answered request of the stages, their tool servers and the broker (gross). */
  cpuMsPerRequest: number;
  /** The same by process group (broker, each stage, tool servers). */
  cpuByGroup: Map<string, number>;
}

async function measure(target: "raw" | FlowName, rate: number, durationMs: number): Promise<Measured> {
  const before = await sampleCpu(groups);
  const result = await runOpenLoop({
    rate,
    durationMs,
    drainMs,
    message: (): OutgoingMessage => {
      const value = request(target === "raw" ? "lookup" : target);
      return { topic: target === "raw" ? rawTopic : "baton.requests", key: value.requestId, value };
    },
    awaitAnswer: async (key, timeoutMs) => {
      if (target === "raw") return rawWatcher.waitFor(key, timeoutMs);
      const answer = await responses.waitFor(key, timeoutMs);
      const succeeded = answer.value.steps.filter((step) => step.status === "SUCCEEDED").length;
      if (answer.value.status !== "ANSWERED" || succeeded < flows[target].toolSteps) unexpected += 1;
      return answer;
    },
    send: (messages) => producer.send(messages),
  });
  const used = cpuBetween(before, await sampleCpu(groups));
  const cpu = [...used].filter(([name]) => name !== "bench").reduce((sum, [, ms]) => sum + ms, 0);
  const perRequest = (ms: number) => ms / Math.max(1, result.answered);
  const cpuByGroup = new Map(
    [...used].filter(([name]) => name !== "bench").map(([name, ms]) => [name, perRequest(ms)]),
  );
  return { ...result, cpuMsPerRequest: perRequest(cpu), cpuByGroup };
}

const fixed = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : "-");
const p = (result: OpenLoopResult, at: number): number => percentile(result.latencies, at);

interface Row {
  round: number;
  variant: string;
  rate: number;
  flow: FlowName;
  raw: Measured;
  measured: Measured;
}
const rows: Row[] = [];

try {
  for (let round = 1; round <= rounds; round += 1) {
    const order = round % 2 === 1 ? variants : [...variants].reverse();
    for (const variant of order) {
      process.stderr.write(`round ${round}: starting ${variant.name}'s stages from ${variant.root}…\n`);
      stagesRunning = true;
      groups = await startStagesFrom(variant.root, envFor(variant.name));
      await measure("raw", 50, 2_000);
      await measure("lookup", 50, 4_000);
      for (const flow of flowNames)
        for (const rate of rates) {
          const raw = await measure("raw", rate, rawMs);
          const measured = await measure(flow, rate, stepMs);
          rows.push({ round, variant: variant.name, rate, flow, raw, measured });
          console.log(
            `round ${round} ${variant.name} ${rate}/s: ${flow} p50 ${fixed(p(measured, 50))} p99 ${fixed(p(measured, 99))} ms (${measured.answered}/${measured.sent}); raw p50 ${fixed(p(raw, 50))} p99 ${fixed(p(raw, 99))} ms; p50 ${fixed(p(measured, 50) / p(raw, 50))}x raw; CPU ${fixed(measured.cpuMsPerRequest, 2)} ms/req (${[...measured.cpuByGroup].map(([name, ms]) => `${name} ${fixed(ms, 2)}`).join(", ")})`,
          );
        }
      await stopPipeline();
      stagesRunning = false;
    }
  }
} finally {
  if (stagesRunning) await stopPipeline();
}
await Promise.all([rawWatcher.stop(), responses.stop()]);
await admin.deleteTopics([rawTopic]);
await registry.deleteSubject(valueSubject(rawTopic)).catch(() => undefined);
await admin.disconnect();
await producer.disconnect();
await tracing.shutdown();
await rm(toolsDataDir, { recursive: true, force: true });

console.log("");
console.log(
  `machine: ${cpus().length} cores (${cpus()[0]?.model ?? "unknown"}), node ${process.version}, ${new Date().toISOString()}; unexpected answers ${unexpected}`,
);
console.log(
  "round | variant | flow | rate | p50 | p99 | answered/sent | raw p50 | raw p99 | p50 x raw | p99 x raw | CPU ms/req",
);
for (const row of rows) {
  const { raw, measured } = row;
  console.log(
    `${row.round} | ${row.variant} | ${row.flow} | ${row.rate} | ${fixed(p(measured, 50))} | ${fixed(p(measured, 99))} | ${measured.answered}/${measured.sent} | ${fixed(p(raw, 50))} | ${fixed(p(raw, 99))} | ${fixed(p(measured, 50) / p(raw, 50))} | ${fixed(p(measured, 99) / p(raw, 99))} | ${fixed(measured.cpuMsPerRequest, 2)}`,
  );
}
if (options.json !== undefined)
  await writeFile(
    options.json,
    `${JSON.stringify(
      rows.map((row) => ({
        round: row.round,
        variant: row.variant,
        flow: row.flow,
        rate: row.rate,
        p50: p(row.measured, 50),
        p99: p(row.measured, 99),
        answered: row.measured.answered,
        sent: row.measured.sent,
        rawP50: p(row.raw, 50),
        rawP99: p(row.raw, 99),
        cpuMsPerRequest: row.measured.cpuMsPerRequest,
        cpuMsPerRequestByGroup: Object.fromEntries(row.measured.cpuByGroup),
      })),
      null,
      2,
    )}\n`,
  );
process.exit(0);
