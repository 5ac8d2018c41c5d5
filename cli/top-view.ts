import type { PrometheusSample } from "./prometheus-text.ts";

/** The stages `baton top` watches, in pipeline order. */
export const topStages = ["planner", "policy", "executor", "summarizer"] as const;

/** A stage `baton top` watches. */
export type TopStage = (typeof topStages)[number];

/** One cumulative histogram bucket: observations at or below `le` seconds. */
export interface Bucket {
  le: number;
  count: number;
}

/** A stage's metrics at one scrape, summed over its topics, partitions and instances. */
export interface StageSnapshot {
  messagesIn: number;
  /** baton_processing_seconds, cumulative buckets sorted by bound, the last one +Inf. */
  processingBuckets: Bucket[];
  consumerLag: number;
  retries: number;
  deadLetters: number;
  /** Tools whose circuit breaker is open on any instance. */
  openBreakers: string[];
  /**
   * Partition numbers of the stage's inputs owned (by any instance), ascending, from baton_owned_partitions;
   * null when the metrics do not say (a stage built before that gauge).
   */
  ownedPartitions: number[] | null;
}

/** What one scrape of one instance of a stage (one metrics endpoint) found. */
export interface InstanceScrape {
  url: string;
  /** The instance's process, when it announced itself on this machine; null for an endpoint given by flag. */
  pid: number | null;
  /** Why it did not answer; null when it did. */
  failure: string | null;
  /** Its own metrics; null when it did not answer. */
  snapshot: StageSnapshot | null;
}

/** What one scrape of a stage's endpoints found. */
export interface StageScrape {
  stage: string;
  /** Epoch milliseconds of the scrape. */
  at: number;
  endpoints: string[];
  /** Why each endpoint that did not answer failed, by URL. */
  failures: Record<string, string>;
  /** The metrics of the endpoints that answered; null when none did. */
  snapshot: StageSnapshot | null;
  /** Each endpoint on its own, in the order of `endpoints`. */
  instances: InstanceScrape[];
}

/** The numbers a line of `baton top` shows, from a scrape and, for rates, the one before. */
export interface Measures {
  /** Messages consumed per second between the two scrapes; null on the first scrape or when down. */
  messagesPerSecond: number | null;
  /** 99th percentile of processing time, in ms, interpolated in the histogram's buckets. */
  p99Ms: number | null;
  /** `interval`: of the messages handled between the scrapes; `total`: since the stage started (none in between). */
  p99Over: "interval" | "total" | null;
  consumerLag: number | null;
  retries: number | null;
  deadLetters: number | null;
  openBreakers: string[];
  /** Partition numbers owned, ascending; null when down or its metrics do not say. */
  ownedPartitions: number[] | null;
}

/** One instance's line under its stage, as `--json` prints it. */
export interface InstanceRow extends Measures {
  url: string;
  pid: number | null;
  state: "up" | "down";
  failure: string | null;
}

/** One stage's line of `baton top` (its totals) and its instances' lines, as `--json` prints them. */
export interface StageRow extends Measures {
  stage: string;
  /** `partial` when some of the stage's endpoints answered and some did not. */
  state: "up" | "down" | "partial";
  answered: number;
  endpoints: number;
  failures: Record<string, string>;
  instances: InstanceRow[];
}

function sum(samples: PrometheusSample[], name: string): number {
  return samples.filter((sample) => sample.name === name).reduce((total, sample) => total + sample.value, 0);
}

/**
 * The partition numbers owned per baton_owned_partitions (value 1), ascending and once each; null when there is no
 * such sample and `types` (the families the exposition declares) does not name it either.
 */
export function ownedPartitions(samples: PrometheusSample[], types: Record<string, string> = {}): number[] | null {
  const owned = samples.filter((sample) => sample.name === "baton_owned_partitions");
  if (owned.length === 0 && types.baton_owned_partitions === undefined) return null;
  const numbers = owned
    .filter((sample) => sample.value > 0)
    .map((sample) => Number(sample.labels.partition))
    .filter((number) => Number.isSafeInteger(number) && number >= 0);
  return [...new Set(numbers)].sort((a, b) => a - b);
}

/**
 * Sums the Baton metrics of a stage's scraped samples (every instance's, every topic's); `types` are the metric
 * families the expositions declare, so a stage that owns no partition is told from one that does not report them.
 */
export function stageSnapshot(samples: PrometheusSample[], types: Record<string, string> = {}): StageSnapshot {
  const buckets = new Map<number, number>();
  for (const sample of samples) {
    if (sample.name !== "baton_processing_seconds_bucket") continue;
    const le = sample.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(sample.labels.le);
    if (Number.isNaN(le)) continue;
    buckets.set(le, (buckets.get(le) ?? 0) + sample.value);
  }
  const openBreakers = samples
    .filter((sample) => sample.name === "baton_circuit_breaker_open" && sample.value === 1)
    .map((sample) => sample.labels.tool ?? "?");
  return {
    messagesIn: sum(samples, "baton_messages_in_total"),
    processingBuckets: [...buckets].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le),
    consumerLag: sum(samples, "baton_consumer_lag"),
    retries: sum(samples, "baton_retries_total"),
    deadLetters: sum(samples, "baton_dead_letters_total"),
    openBreakers: [...new Set(openBreakers)].sort(),
    ownedPartitions: ownedPartitions(samples, types),
  };
}

/**
 * The q-quantile of a cumulative histogram, as Prometheus's histogram_quantile computes it: linear interpolation
 * inside the bucket the rank falls in; the largest finite bound when it falls in +Inf. Null when it is empty.
 */
export function histogramQuantile(q: number, buckets: Bucket[]): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let index = 0; index < buckets.length; index += 1) {
    const bucket = buckets[index];
    if (bucket === undefined || bucket.count < rank) continue;
    const below = buckets[index - 1];
    if (bucket.le === Number.POSITIVE_INFINITY) return below?.le ?? null;
    const lower = below?.le ?? 0;
    const countBelow = below?.count ?? 0;
    if (bucket.count === countBelow || lower >= bucket.le) return bucket.le;
    return lower + ((bucket.le - lower) * (rank - countBelow)) / (bucket.count - countBelow);
  }
  return buckets.findLast((bucket) => Number.isFinite(bucket.le))?.le ?? null;
}

/** The buckets filled between two scrapes; null when a counter went down (the stage restarted in between). */
export function bucketDelta(previous: Bucket[], current: Bucket[]): Bucket[] | null {
  const before = new Map(previous.map((bucket) => [bucket.le, bucket.count]));
  const delta = current.map((bucket) => ({ le: bucket.le, count: bucket.count - (before.get(bucket.le) ?? 0) }));
  return delta.some((bucket) => bucket.count < 0) ? null : delta;
}

function p99(previous: StageSnapshot | null, current: StageSnapshot): Pick<Measures, "p99Ms" | "p99Over"> {
  const window = previous === null ? null : bucketDelta(previous.processingBuckets, current.processingBuckets);
  const overInterval = window === null ? null : histogramQuantile(0.99, window);
  if (overInterval !== null) return { p99Ms: overInterval * 1_000, p99Over: "interval" };
  const overTotal = histogramQuantile(0.99, current.processingBuckets);
  return overTotal === null ? { p99Ms: null, p99Over: null } : { p99Ms: overTotal * 1_000, p99Over: "total" };
}

const unmeasured: Measures = {
  messagesPerSecond: null,
  p99Ms: null,
  p99Over: null,
  consumerLag: null,
  retries: null,
  deadLetters: null,
  openBreakers: [],
  ownedPartitions: null,
};

/** The numbers of a snapshot taken at `current.at`, with rates against the one before (absent on the first). */
function measure(
  previous: { at: number; snapshot: StageSnapshot | null } | undefined,
  current: { at: number; snapshot: StageSnapshot | null },
): Measures {
  const snapshot = current.snapshot;
  if (snapshot === null) return unmeasured;
  const before = previous?.snapshot ?? null;
  const seconds = previous === undefined ? 0 : (current.at - previous.at) / 1_000;
  let messagesPerSecond: number | null = null;
  if (before !== null && seconds > 0) {
    const consumed = snapshot.messagesIn - before.messagesIn;
    messagesPerSecond = (consumed >= 0 ? consumed : snapshot.messagesIn) / seconds;
  }
  return {
    messagesPerSecond,
    ...p99(before, snapshot),
    consumerLag: snapshot.consumerLag,
    retries: snapshot.retries,
    deadLetters: snapshot.deadLetters,
    openBreakers: snapshot.openBreakers,
    ownedPartitions: snapshot.ownedPartitions,
  };
}

/** A stage's line and its instances' lines from its latest scrape and, for rates, the one before (absent on the first). */
export function stageRow(previous: StageScrape | undefined, current: StageScrape): StageRow {
  const answered = current.endpoints.length - Object.keys(current.failures).length;
  const state: StageRow["state"] = answered === 0 ? "down" : answered < current.endpoints.length ? "partial" : "up";
  const instances = current.instances.map((instance): InstanceRow => {
    const earlier = previous?.instances.find((candidate) => candidate.url === instance.url);
    const before = previous === undefined || earlier === undefined ? undefined : { ...earlier, at: previous.at };
    return {
      url: instance.url,
      pid: instance.pid,
      state: instance.snapshot === null ? "down" : "up",
      failure: instance.failure,
      ...measure(before, { ...instance, at: current.at }),
    };
  });
  return {
    stage: current.stage,
    state,
    answered,
    endpoints: current.endpoints.length,
    failures: current.failures,
    ...measure(previous, current),
    instances,
  };
}

/** The lines of every stage between two rounds of scrapes. */
export function topRows(previous: StageScrape[] | undefined, current: StageScrape[]): StageRow[] {
  return current.map((scrape) =>
    stageRow(
      previous?.find((earlier) => earlier.stage === scrape.stage),
      scrape,
    ),
  );
}

function count(value: number | null): string {
  return value === null ? "-" : String(Math.round(value));
}

function rate(value: number | null): string {
  if (value === null) return "-";
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function latency(row: Measures): string {
  if (row.p99Ms === null) return "-";
  const text = row.p99Ms >= 100 ? row.p99Ms.toFixed(0) : row.p99Ms.toFixed(1);
  return row.p99Over === "total" ? `${text}*` : text;
}

/** Options for {@link renderTop}. */
export interface RenderTopOptions {
  at: Date;
  intervalSeconds: number;
  /** Adds how to quit to the title (the live view). */
  live: boolean;
}

/** Partition numbers, compactly: `0-3,7`; `none` for an empty list; `-` when unknown (null). */
export function formatPartitions(numbers: readonly number[] | null): string {
  if (numbers === null) return "-";
  const ranges: Array<[number, number]> = [];
  for (const number of [...new Set(numbers)].sort((a, b) => a - b)) {
    const last = ranges.at(-1);
    if (last !== undefined && number === last[1] + 1) last[1] = number;
    else ranges.push([number, number]);
  }
  if (ranges.length === 0) return "none";
  return ranges.map(([first, last]) => (first === last ? String(first) : `${first}-${last}`)).join(",");
}

/** How an instance is named under its stage: its pid when known, else its endpoint (`host:port` for /metrics). */
export function instanceLabel(instance: Pick<InstanceRow, "pid" | "url">): string {
  if (instance.pid !== null) return `pid ${instance.pid}`;
  const url = new URL(instance.url);
  return url.pathname === "/metrics" && url.protocol === "http:" ? url.host : instance.url;
}

/**
 * One frame of `baton top` for people: a title, a line per stage (its totals; its partitions are every instance's
 * together, blank when none says) and one per instance under it, then notes on what is down.
 */
export function renderTop(rows: StageRow[], options: RenderTopOptions): string[] {
  const title = `baton top  ${options.at.toISOString().replace("T", " ").slice(0, 19)}Z  every ${options.intervalSeconds}s`;
  const labels = rows.flatMap((row) => [row.stage, ...row.instances.map((instance) => `  ${instanceLabel(instance)}`)]);
  const nameWidth = Math.max(11, ...labels.map((label) => label.length + 1));
  const partitionCells = rows.flatMap((row) => [
    row.ownedPartitions === null ? "" : formatPartitions(row.ownedPartitions),
    ...row.instances.map((instance) => formatPartitions(instance.ownedPartitions)),
  ]);
  const partitionWidth = Math.max("partitions".length, ...partitionCells.map((cell) => cell.length));
  const line = (name: string, state: string, partitions: string, measures: Measures): string =>
    `${name.padEnd(nameWidth)} ${state.padEnd(8)} ${partitions.padEnd(partitionWidth)} ` +
    `${rate(measures.messagesPerSecond).padStart(8)} ${latency(measures).padStart(9)} ` +
    `${count(measures.consumerLag).padStart(8)} ${count(measures.retries).padStart(8)} ${count(measures.deadLetters).padStart(6)}  ` +
    (measures.openBreakers.length === 0 ? "-" : measures.openBreakers.join(", "));
  const lines = [
    options.live ? `${title}  (Ctrl-C to quit)` : title,
    "",
    `${"stage".padEnd(nameWidth)} ${"state".padEnd(8)} ${"partitions".padEnd(partitionWidth)} ${"in/s".padStart(8)} ${"p99 ms".padStart(9)} ${"lag".padStart(8)} ${"retries".padStart(8)} ${"dead".padStart(6)}  open breakers`,
  ];
  for (const row of rows) {
    const state = row.state !== "down" && row.endpoints > 1 ? `${row.answered}/${row.endpoints} up` : row.state;
    const partitions = row.ownedPartitions === null ? "" : formatPartitions(row.ownedPartitions);
    lines.push(line(row.stage, state, partitions, row));
    for (const instance of row.instances) {
      lines.push(
        line(`  ${instanceLabel(instance)}`, instance.state, formatPartitions(instance.ownedPartitions), instance),
      );
    }
  }
  const notes: string[] = [];
  const measured = rows.flatMap((row) => [row, ...row.instances]);
  if (measured.some((row) => row.p99Over === "total"))
    notes.push("* p99 since the stage started: nothing handled in the last interval");
  for (const row of rows) {
    for (const [url, why] of Object.entries(row.failures)) notes.push(`${row.stage}: ${url} did not answer (${why})`);
  }
  if (rows.some((row) => row.state !== "up")) notes.push("start the stages with `npm run demo` or `baton <stage>`");
  return notes.length === 0 ? lines : [...lines, "", ...notes];
}
