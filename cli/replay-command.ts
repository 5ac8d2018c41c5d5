import { randomUUID } from "node:crypto";
import { InvalidArgumentError, type Command } from "commander";
import { parseConfig } from "../shared/config.ts";
import { BatonError } from "../shared/errors.ts";
import { createLlmClient } from "../shared/llm/llm-client.ts";
import { loadPolicy } from "../shared/policy-file.ts";
import type { Response, ToolCatalog, ToolDescription } from "../shared/schemas/records.ts";
import { Principals } from "../shared/security/principals.ts";
import { createLogger } from "../shared/telemetry/logger.ts";
import { serveMetrics } from "../shared/telemetry/metrics.ts";
import { replayedTopics, replayTopicName, requestPartitions } from "../shared/topics.ts";
import { executorConfigSchema } from "../services/executor/config.ts";
import { McpConnections } from "../services/executor/mcp-connections.ts";
import { loadServers } from "../services/executor/servers-file.ts";
import { plannerConfigSchema } from "../services/planner/config.ts";
import { loadWorkflows } from "../services/planner/workflow-file.ts";
import { openClient, type CliClient } from "./client.ts";
import { requestHistory } from "./history-command.ts";
import { readTopics } from "./read-topics.ts";
import { readToEnd, type ReadMessage } from "../shared/kafka/topic-reader.ts";
import { keyPartition } from "../shared/kafka/key-partition.ts";
import {
  recordedRun,
  recordedRuns,
  recordedTopics,
  requestIdOf,
  runView,
  type RecordedRun,
  type TopicMessage,
} from "./replay/recorded-run.ts";
import { diffViews, formatSummary, formatVerdict, type RequestVerdict } from "./replay/replay-diff.ts";
import {
  createReplayMetrics,
  replayHeader,
  ReplayEngine,
  type ReplayConfiguration,
  type ReplayedRun,
} from "./replay/replay-engine.ts";

/** What `baton replay` was asked, after its flags are checked. */
export interface ReplayOptions {
  from?: number;
  to?: number;
  status?: Response["status"];
  tenant?: string;
  sample?: number;
  workflows?: string;
  policy?: string;
  llmModel?: string;
  tools?: "read-only";
  json?: boolean;
  metricsPort?: number;
  /** Requests replayed at once (default 8). */
  concurrency?: number;
}

/** How `baton replay` ended: 0 nothing changed, 1 something changed, 2 it could not tell (an error). */
export type ReplayExitCode = 0 | 1 | 2;

/** What one `baton replay` did: the replay id, each request's verdict, and how long it took. */
export interface ReplayReport {
  replayId: string;
  window?: { from: string; to: string };
  verdicts: RequestVerdict[];
  /** Requests of the window not replayed because they have no response yet. */
  skippedUnanswered: number;
  replayMs: number;
  /** The sum over the replayed requests of how long each original took to answer. */
  originalMs: number;
}

function parseTime(text: string): number {
  const asNumber = Number(text);
  const at = Number.isFinite(asNumber) && /^\d+$/.test(text) ? asNumber : Date.parse(text);
  if (Number.isNaN(at))
    throw new InvalidArgumentError(`expected an ISO time (2026-11-30T10:00:00Z) or epoch milliseconds, got "${text}"`);
  return at;
}

function parseStatus(text: string): Response["status"] {
  if (text !== "FAILED" && text !== "REFUSED" && text !== "ANSWERED")
    throw new InvalidArgumentError(`expected FAILED, REFUSED or ANSWERED, got "${text}"`);
  return text;
}

function parsePositive(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new InvalidArgumentError(`expected a whole number above 0`);
  return value;
}

function parseTools(text: string): "read-only" {
  if (text !== "read-only") throw new InvalidArgumentError(`the only choice is "read-only", got "${text}"`);
  return text;
}

/** Flags that do not fit together, as a sentence saying what to do; undefined when they fit. */
export function misuseOf(requestIds: readonly string[], options: ReplayOptions): string | undefined {
  const window = options.from !== undefined || options.to !== undefined;
  if (requestIds.length > 0 && window) return "give request ids or a window (--from/--to), not both";
  if (requestIds.length === 0 && !window) return "give one or more request ids, or a window with --from and --to";
  if (window && (options.from === undefined || options.to === undefined)) return "a window needs both --from and --to";
  if (window && (options.to ?? 0) < (options.from ?? 0)) return "--to is before --from";
  if (!window && (options.status !== undefined || options.tenant !== undefined || options.sample !== undefined))
    return "--status, --tenant and --sample select requests of a window (--from/--to)";
  return undefined;
}

/** Every n-th of a list so that `count` are kept, evenly spread: the same sample each time (CI compares runs). */
export function evenSample<T>(items: readonly T[], count: number | undefined): T[] {
  if (count === undefined || count >= items.length) return [...items];
  return Array.from({ length: count }, (_, index) => items[Math.floor((index * items.length) / count)] as T);
}

/** How long reading a window's messages may take; a replay never compares against a partial read. */
const windowReadTimeoutMs = 5 * 60_000;

/** Producers' clocks may differ: a window's messages are read from this long before it starts. */
const clockSkewMs = 5 * 60_000;

/** Read messages as {@link TopicMessage}s, those that could not be decoded left out. */
function decoded(messages: readonly ReadMessage[]): TopicMessage[] {
  return messages.flatMap((message) =>
    message.decodeError === undefined
      ? [
          {
            topic: message.topic,
            key: message.key,
            value: message.value,
            headers: message.headers,
            partition: message.partition,
            timestamp: message.timestamp,
          },
        ]
      : [],
  );
}

/**
 * The recorded runs of the requests named. A request's messages are on the partition number its id hashes to
 * (co-partitioning) and come after it: so that partition of the recorded topics is read, from shortly before the
 * request. A request found elsewhere (a submitter that partitions otherwise) is read through its history.
 */
async function recordedByIds(client: CliClient, requestIds: readonly string[]): Promise<RecordedRun[]> {
  const ids = new Set(requestIds);
  const partitions = [...new Set(requestIds.map((id) => keyPartition(id, requestPartitions)))];
  const requests = decoded(
    await readTopics(client, [{ topic: "baton.requests", partitions }], {
      keys: (key) => key !== null && ids.has(key),
    }),
  );
  const found = new Set(requests.map((message) => message.key));
  const since = Math.min(...requests.map((message) => message.timestamp)) - clockSkewMs;
  const others = recordedTopics.filter((topic) => topic !== "baton.requests");
  const rest =
    requests.length === 0
      ? []
      : decoded(
          await readTopics(
            client,
            others.map((topic) => ({ topic, partitions })),
            { keys: (key) => found.has(requestIdOf(key) ?? ""), since },
          ),
        );
  const runs = new Map(recordedRuns([...requests, ...rest]).map((run) => [run.request.requestId, run]));
  const wanted = new Set<string>(recordedTopics);
  const ordered: RecordedRun[] = [];
  for (const requestId of requestIds) {
    let run = runs.get(requestId);
    if (run === undefined) {
      const history = await requestHistory(client, requestId);
      run = recordedRun(history.entries.filter((entry) => wanted.has(entry.topic)));
    }
    if (run === undefined) throw new BatonError("INVALID_INPUT", `no request ${requestId} on baton.requests`);
    ordered.push(run);
  }
  return ordered;
}

/** The recorded runs of a window's requests (submitted within it), filtered and sampled. */
async function recordedInWindow(
  client: CliClient,
  options: ReplayOptions & { from: number; to: number },
): Promise<{ runs: RecordedRun[]; skippedUnanswered: number }> {
  const { kafka, codec } = client.backbone;
  const read = await readToEnd({
    kafka,
    codec,
    topics: recordedTopics,
    since: options.from - clockSkewMs,
    timeoutMs: windowReadTimeoutMs,
  });
  if (read.unfinished.length > 0) {
    const ranges = read.unfinished.map((range) => `${range.topic}/${range.partition}`).join(", ");
    throw new BatonError(
      "TIMEOUT",
      `could not read the window's messages in ${windowReadTimeoutMs / 60_000} minutes (unfinished: ${ranges}); ` +
        "replay a shorter window, or a --sample of it, closer to now",
    );
  }
  const all = recordedRuns(decoded(read.messages)).filter(
    (run) => run.submittedAt >= options.from && run.submittedAt <= options.to,
  );
  const selected = all
    .filter((run) => options.tenant === undefined || run.request.tenant === options.tenant)
    .filter((run) => options.status === undefined || run.response?.status === options.status)
    .sort((a, b) => a.submittedAt - b.submittedAt);
  const answered = selected.filter((run) => run.response !== undefined);
  return { runs: evenSample(answered, options.sample), skippedUnanswered: selected.length - answered.length };
}

/** Every tool the executors offer now, from baton.tool-catalogs (latest catalogue per server). */
async function currentCatalogue(client: CliClient): Promise<ToolDescription[]> {
  const latest = new Map<string, ToolCatalog>();
  for (const message of await readTopics(client, ["baton.tool-catalogs"])) {
    if (message.key !== null && message.value !== null) latest.set(message.key, message.value as ToolCatalog);
  }
  return [...latest.values()].flatMap((catalogue) => catalogue.tools);
}

async function pool<T, R>(items: readonly T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}

const replayed = new Set<string>(replayedTopics);

/** Whether a replay writes a message of this topic again (every topic the stages' logic produces is declared). */
function isReplayed(message: { topic: string }): boolean {
  return replayed.has(message.topic);
}

/** Requests replayed between two writes to the replay namespace (about 11 records each for the support flow). */
const requestsPerWrite = 100;

/** How one request's replay compares with its original. */
function verdictOf(recorded: RecordedRun, replayed: ReplayedRun | undefined, error: Error | undefined): RequestVerdict {
  const originalMs =
    recorded.respondedAt === undefined ? undefined : Math.max(0, recorded.respondedAt - recorded.submittedAt);
  const base = { requestId: recorded.request.requestId, ...(originalMs === undefined ? {} : { originalMs }) };
  if (replayed === undefined) {
    const reason = error?.message ?? "unknown";
    return { ...base, verdict: "failed", diffs: [], newCalls: [], recordedCalls: 0, readOnlyCalls: 0, error: reason };
  }
  const diffs = diffViews(runView(recorded.messages), replayed.view);
  return {
    ...base,
    verdict: diffs.length === 0 && replayed.unfinished === undefined ? "same" : "changed",
    diffs,
    newCalls: replayed.calls.filter((call) => call.source === "new"),
    recordedCalls: replayed.calls.filter((call) => call.source === "recorded").length,
    readOnlyCalls: replayed.calls.filter((call) => call.source === "read-only").length,
    ...(replayed.unfinished === undefined ? {} : { error: replayed.unfinished }),
  };
}

/**
 * Replays requests (named, or a window's) through the current stage logic, or the files given, writing what the
 * replay produced to the replay namespace (`baton.replay-*`, header `baton-replay`), and compares each with its
 * original. Never writes a live topic; calls a tool only with `--tools read-only`, and then only read-only tools.
 */
export async function replayRequests(
  client: CliClient,
  requestIds: readonly string[],
  options: ReplayOptions,
  env: Record<string, string | undefined>,
): Promise<ReplayReport> {
  const overrides: Record<string, string> = {};
  if (options.workflows !== undefined) overrides.WORKFLOWS_DIR = options.workflows;
  if (options.policy !== undefined) overrides.POLICY_FILE = options.policy;
  if (options.llmModel !== undefined) overrides.LLM_MODEL = options.llmModel;
  const config = parseConfig(plannerConfigSchema, { ...env, ...overrides });
  if (options.llmModel !== undefined && config.LLM_PROVIDER === "none")
    throw new BatonError("CONFIG_INVALID", "--llm-model needs an LLM provider: set LLM_PROVIDER (and LLM_API_KEY)");
  const replayId = `replay-${randomUUID()}`;
  const logger = createLogger({
    service: "baton-replay",
    level: config.BATON_LOG_LEVEL === "info" ? "warn" : config.BATON_LOG_LEVEL,
  }).child({
    replay: replayId,
  });
  // Replayed work is counted apart from live work: its own series, labelled replay="true".
  const metrics = createReplayMetrics();
  const served =
    options.metricsPort === undefined
      ? undefined
      : await serveMetrics({ metrics, port: options.metricsPort, ready: () => true, logger });
  let connections: McpConnections | undefined;
  try {
    const [workflows, policy, catalogue] = await Promise.all([
      loadWorkflows(config.WORKFLOWS_DIR),
      loadPolicy(config.POLICY_FILE),
      currentCatalogue(client),
    ]);
    let readOnlyTools: ReplayConfiguration["readOnlyTools"];
    if (options.tools === "read-only") {
      const executorConfig = parseConfig(executorConfigSchema, env);
      const mcp = new McpConnections({ logger, cwd: executorConfig.MCP_SERVERS_CWD });
      connections = mcp;
      await mcp.connect(await loadServers(executorConfig.MCP_SERVERS_FILE));
      await mcp.catalogues(Date.now());
      readOnlyTools = { invoker: mcp, isReadOnly: (tool) => mcp.isReadOnly(tool) };
    }
    const engine = new ReplayEngine({
      replayId,
      workflows,
      policy,
      principals: new Principals(policy),
      catalogue,
      defaultDeadlineMs: config.PLANNER_DEADLINE_MS,
      llm: createLlmClient(config),
      followUps: config.PLANNER_LLM_FOLLOW_UPS,
      ...(readOnlyTools === undefined ? {} : { readOnlyTools }),
      logger,
      tracer: client.backbone.tracing.tracer,
      metrics,
    });
    const selection =
      options.from !== undefined && options.to !== undefined
        ? await recordedInWindow(client, { ...options, from: options.from, to: options.to })
        : { runs: await recordedByIds(client, requestIds), skippedUnanswered: 0 };
    const started = performance.now();
    const verdicts: RequestVerdict[] = [];
    const runs = selection.runs;
    for (let first = 0; first < runs.length; first += requestsPerWrite) {
      const chunk = runs.slice(first, first + requestsPerWrite);
      const replays = await pool(chunk, options.concurrency ?? 8, async (recorded) => {
        try {
          return { recorded, replayed: await engine.replay(recorded) };
        } catch (error) {
          logger.warn({ err: error, requestId: recorded.request.requestId }, "request failed to replay");
          return { recorded, error: error as Error };
        }
      });
      // One write per chunk: what the replay produced, renamed into the replay namespace and marked.
      await client.producer.send(
        replays.flatMap(({ recorded, replayed }) =>
          (replayed?.messages ?? []).filter(isReplayed).map((message) => ({
            ...message,
            topic: replayTopicName(message.topic),
            headers: { ...message.headers, [replayHeader]: replayId },
            partition: recorded.partition,
          })),
        ),
      );
      verdicts.push(...replays.map(({ recorded, replayed, error }) => verdictOf(recorded, replayed, error)));
      if (runs.length > requestsPerWrite && process.stderr.isTTY)
        process.stderr.write(`replayed ${verdicts.length} of ${runs.length}\r`);
    }
    const replayMs = performance.now() - started;
    return {
      replayId,
      ...(options.from !== undefined && options.to !== undefined
        ? { window: { from: new Date(options.from).toISOString(), to: new Date(options.to).toISOString() } }
        : {}),
      verdicts,
      skippedUnanswered: selection.skippedUnanswered,
      replayMs: Math.round(replayMs),
      originalMs: verdicts.reduce((sum, verdict) => sum + (verdict.originalMs ?? 0), 0),
    };
  } finally {
    await connections?.close();
    await served?.close();
  }
}

/** 0 when every request replayed the same, 1 when one changed, 2 when one could not be replayed. */
export function exitCodeOf(report: ReplayReport): ReplayExitCode {
  if (report.verdicts.some((verdict) => verdict.verdict === "failed")) return 2;
  return report.verdicts.some((verdict) => verdict.verdict === "changed") ? 1 : 0;
}

/** The report for people: each request (a window: the summary table, then the changed and failed ones). */
export function formatReport(report: ReplayReport): string[] {
  const lines: string[] = [];
  if (report.window === undefined) {
    for (const verdict of report.verdicts) lines.push(...formatVerdict(verdict));
  } else {
    lines.push(
      `replayed ${report.verdicts.length} request${report.verdicts.length === 1 ? "" : "s"} submitted ${report.window.from} .. ${report.window.to}` +
        (report.skippedUnanswered === 0 ? "" : ` (${report.skippedUnanswered} not answered yet, skipped)`),
      "",
      ...formatSummary(report.verdicts),
    );
    const notSame = report.verdicts.filter((verdict) => verdict.verdict !== "same");
    if (notSame.length > 0) lines.push("", ...notSame.flatMap(formatVerdict));
  }
  lines.push(
    "",
    `replay ${report.replayId}: ${report.replayMs} ms (the originals took ${report.originalMs} ms); its records are on baton.replay-* with header ${replayHeader}`,
  );
  return lines;
}

/** `baton replay`. */
export function registerReplayCommand(program: Command): void {
  program
    .command("replay")
    .description("run recorded requests again on the current (or given) workflows, policy and model, and diff them")
    .argument("[requestIds...]", "requests to replay")
    .option("--from <time>", "replay the requests submitted from this time (ISO or epoch ms)", parseTime)
    .option("--to <time>", "… up to this time", parseTime)
    .option("--status <status>", "only requests answered FAILED, REFUSED or ANSWERED", parseStatus)
    .option("--tenant <tenant>", "only this tenant's requests")
    .option("--sample <n>", "at most n requests of the window, evenly spread", parsePositive)
    .option("--workflows <dirs>", "workflow folders to plan with (comma-separated) instead of WORKFLOWS_DIR")
    .option("--policy <file>", "policy file to judge with instead of POLICY_FILE")
    .option("--llm-model <name>", "the LLM model to plan and summarize with instead of LLM_MODEL")
    .option(
      "--tools <which>",
      "read-only: new calls may reach tools whose MCP annotations say readOnlyHint",
      parseTools,
    )
    .option("--metrics-port <port>", 'serve the replay\'s metrics (label replay="true") while it runs', parsePositive)
    .option("--json", "print the report as JSON")
    .addHelpText(
      "after",
      "\nEvery tool call matching a call of the original (tool and arguments) is answered from its recorded\n" +
        "outcome; any other call is reported as new and never sent to a tool (with --tools read-only, read-only\n" +
        "tools are called). Nothing is written to a live topic: the replay's records go to baton.replay-*.\n" +
        "Exit 0: every request replayed the same; 1: something changed; 2: an error (one could not be replayed).\n\n" +
        "Examples:\n" +
        "  $ baton replay 7d3f0c2e-… --workflows ./workflows-next\n" +
        "  $ baton replay --from 2026-11-30T09:00:00Z --to 2026-11-30T10:00:00Z --status FAILED --policy next.yaml\n",
    )
    .action(async (requestIds: string[], options: ReplayOptions) => {
      const misuse = misuseOf(requestIds, options);
      if (misuse !== undefined) {
        process.stderr.write(`error: ${misuse} (see baton replay --help)\n`);
        process.exit(2);
      }
      let code: ReplayExitCode;
      try {
        const client = await openClient();
        try {
          const report = await replayRequests(client, requestIds, options, process.env);
          if (options.json === true) console.log(JSON.stringify(report, null, 2));
          else for (const line of formatReport(report)) console.log(line);
          code = exitCodeOf(report);
        } finally {
          await client.close();
        }
      } catch (error) {
        process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
        code = 2;
      }
      process.exit(code);
    });
}
