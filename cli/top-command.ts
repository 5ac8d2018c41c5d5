import { InvalidArgumentError, Option, type Command } from "commander";
import { z } from "zod";
import { parsePrometheusExposition, type PrometheusExposition, type PrometheusSample } from "./prometheus-text.ts";
import { fetchFailureReason } from "./fetch-failure.ts";
import { runAction } from "./run-action.ts";
import { localEndpoints } from "../shared/telemetry/local-endpoints.ts";
import {
  renderTop,
  stageSnapshot,
  topRows,
  topStages,
  type InstanceScrape,
  type StageRow,
  type StageScrape,
  type TopStage,
} from "./top-view.ts";

/** Where each stage serves /metrics by default (its METRICS_PORT on the local machine). */
export const defaultMetricsEndpoints: Record<TopStage, string[]> = {
  planner: ["http://127.0.0.1:9464/metrics"],
  policy: ["http://127.0.0.1:9465/metrics"],
  executor: ["http://127.0.0.1:9466/metrics"],
  summarizer: ["http://127.0.0.1:9467/metrics"],
};

/**
 * Reads `host:port`, `http://host:port` or a full metrics URL, comma-separated for several instances;
 * a URL without a path gets `/metrics`.
 */
export function parseEndpointList(value: string): string[] {
  return value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "")
    .map((item) => {
      const parsed = z.url({ protocol: /^https?$/ }).safeParse(/^[a-z]+:\/\//i.test(item) ? item : `http://${item}`);
      if (!parsed.success) throw new InvalidArgumentError(`expected host:port or a URL, got "${item}"`);
      const url = new URL(parsed.data);
      if (url.pathname === "/") url.pathname = "/metrics";
      return url.toString();
    });
}

async function scrapeEndpoint(url: string, timeoutMs: number): Promise<PrometheusExposition> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return parsePrometheusExposition(await response.text());
}

/**
 * Scrapes every endpoint of one stage; one that does not answer is recorded as a failure, never thrown.
 * `pids` names the process behind an endpoint, where known (announced on this machine).
 */
export async function scrapeStage(
  stage: string,
  endpoints: string[],
  timeoutMs: number,
  pids: ReadonlyMap<string, number> = new Map(),
): Promise<StageScrape> {
  const at = Date.now();
  const results = await Promise.allSettled(endpoints.map((url) => scrapeEndpoint(url, timeoutMs)));
  const failures: Record<string, string> = {};
  const samples: PrometheusSample[] = [];
  const types: Record<string, string> = {};
  const instances = results.map((result, index): InstanceScrape => {
    const url = endpoints[index] ?? "?";
    const pid = pids.get(url) ?? null;
    if (result.status === "rejected") {
      const failure = fetchFailureReason(result.reason);
      failures[url] = failure;
      return { url, pid, failure, snapshot: null };
    }
    samples.push(...result.value.samples);
    Object.assign(types, result.value.types);
    return { url, pid, failure: null, snapshot: stageSnapshot(result.value.samples, result.value.types) };
  });
  const answered = endpoints.length - Object.keys(failures).length;
  return { stage, at, endpoints, failures, snapshot: answered === 0 ? null : stageSnapshot(samples, types), instances };
}

/** Scrapes every stage at once. */
export function scrapeStages(
  endpoints: Record<TopStage, string[]>,
  timeoutMs: number,
  pids: ReadonlyMap<string, number> = new Map(),
): Promise<StageScrape[]> {
  return Promise.all(topStages.map((stage) => scrapeStage(stage, endpoints[stage], timeoutMs, pids)));
}

/** One frame as `--json` prints it. */
export function topJson(rows: StageRow[], at: Date, intervalSeconds: number): unknown {
  return { at: at.toISOString(), intervalSeconds, stages: rows };
}

function intervalSeconds(value: string): number {
  const number = Number(value.replace(/s$/, ""));
  if (!Number.isFinite(number) || number < 0.1)
    throw new InvalidArgumentError(`expected seconds (≥ 0.1), got "${value}"`);
  return number;
}

interface TopOptions extends Record<TopStage, string[]> {
  interval: number;
  once?: boolean;
  json?: boolean;
}

const ansi = {
  home: "\x1b[H",
  clearLine: "\x1b[K",
  clearBelow: "\x1b[J",
  hideCursor: "\x1b[?25l",
  showCursor: "\x1b[?25h",
};

/** Redraws a frame in place on a terminal; elsewhere (a pipe, a file) appends it. */
function draw(lines: string[]): void {
  if (process.stdout.isTTY) {
    process.stdout.write(
      `${ansi.home}${lines.map((line) => `${line}${ansi.clearLine}`).join("\n")}\n${ansi.clearBelow}`,
    );
  } else process.stdout.write(`${lines.join("\n")}\n\n`);
}

/** Until Ctrl-C (or SIGTERM): scrape, redraw, wait an interval. */
async function live(options: TopOptions, pids: ReadonlyMap<string, number>): Promise<void> {
  const timeoutMs = Math.min(2_000, options.interval * 1_000);
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let running = true;
  const quit = (): void => {
    running = false;
    stop();
  };
  process.once("SIGINT", quit);
  process.once("SIGTERM", quit);
  if (process.stdout.isTTY) process.stdout.write(`${ansi.hideCursor}\x1b[2J`);
  try {
    let previous: StageScrape[] | undefined;
    while (running) {
      const current = await scrapeStages(options, timeoutMs, pids);
      draw(renderTop(topRows(previous, current), { at: new Date(), intervalSeconds: options.interval, live: true }));
      previous = current;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, new Promise((resolve) => (timer = setTimeout(resolve, options.interval * 1_000)))]);
      clearTimeout(timer);
    }
  } finally {
    process.off("SIGINT", quit);
    process.off("SIGTERM", quit);
    if (process.stdout.isTTY) process.stdout.write(ansi.showCursor);
  }
}

/** Measures over one interval (two scrapes, for rates) and prints one frame. */
async function once(options: TopOptions, pids: ReadonlyMap<string, number>): Promise<void> {
  const timeoutMs = Math.min(2_000, options.interval * 1_000);
  const previous = await scrapeStages(options, timeoutMs, pids);
  await new Promise((resolve) => setTimeout(resolve, options.interval * 1_000));
  const rows = topRows(previous, await scrapeStages(options, timeoutMs, pids));
  const at = new Date();
  if (options.json === true) console.log(JSON.stringify(topJson(rows, at, options.interval), null, 2));
  else for (const line of renderTop(rows, { at, intervalSeconds: options.interval, live: false })) console.log(line);
}

function endpointOption(stage: TopStage): Option {
  const ports = { planner: 9464, policy: 9465, executor: 9466, summarizer: 9467 };
  return new Option(
    `--${stage} <endpoints>`,
    `${stage} metrics: host:port or URL, comma-separated for several instances`,
  )
    .argParser(parseEndpointList)
    .default(defaultMetricsEndpoints[stage], `127.0.0.1:${ports[stage]}`);
}

/** `baton top`. */
export function registerTopCommand(program: Command): void {
  const command = program
    .command("top")
    .description("live view per stage: throughput, p99 processing time, consumer lag, retries, dead letters, breakers");
  for (const stage of topStages) command.addOption(endpointOption(stage));
  command
    .option(
      "--interval <seconds>",
      "seconds between refreshes (and the window rates are measured over)",
      intervalSeconds,
      2,
    )
    .option("--once", "measure over one interval, print one frame and exit")
    .addOption(new Option("--json", "print the frame as JSON (implies --once)").implies({ once: true }))
    .addHelpText(
      "after",
      [
        "",
        "Reads each stage's Prometheus /metrics (METRICS_PORT: planner 9464, policy 9465, executor 9466,",
        "summarizer 9467). in/s: messages consumed per second between refreshes; p99 ms: processing time of the",
        "messages handled in the interval (marked * when none were: since the stage started); lag: messages behind",
        "across its partitions; retries and dead: totals since the stage started; open breakers: tools failing fast.",
        "A stage that does not answer shows as down. The stage's line sums its instances; under it, a line per",
        "instance (its pid, or its endpoint) shows its own numbers and the partitions of the stage's inputs it owns",
        "(baton_owned_partitions; `none` when it owns none). Without a flag for a stage, top reads every instance of",
        "it started on this machine (.baton/run/metrics), or else its default port.",
        "",
        "Examples:",
        "  $ baton top",
        "  $ baton scale executor 2 && baton top --once",
        "  $ baton top --interval 5 --executor 127.0.0.1:9466,127.0.0.1:9476",
        "  $ baton top --once --json",
        "",
      ].join("\n"),
    )
    .action(
      runAction(async (options: TopOptions) => {
        const discovered = (await localEndpoints()).sort(
          (a, b) => Number(new URL(a.url).port) - Number(new URL(b.url).port),
        );
        for (const stage of topStages) {
          // Not told where a stage is: every instance announced on this machine, or else its default port.
          if (command.getOptionValueSource(stage) !== "default") continue;
          const announced = discovered.filter((entry) => entry.stage === stage).map((entry) => entry.url);
          if (announced.length > 0) options[stage] = announced;
        }
        const pids = new Map(discovered.map((entry) => [entry.url, entry.pid]));
        if (options.once === true) await once(options, pids);
        else await live(options, pids);
      }),
    );
}
