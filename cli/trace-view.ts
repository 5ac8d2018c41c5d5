/** One span as Zipkin's v2 API returns it (times in microseconds since the epoch). */
export interface TraceSpan {
  traceId: string;
  id: string;
  parentId?: string | undefined;
  name?: string | undefined;
  kind?: string | undefined;
  timestamp?: number | undefined;
  duration?: number | undefined;
  localEndpoint?: { serviceName?: string | undefined } | undefined;
  tags?: Record<string, string> | undefined;
}

/** One hop of a request's timeline, offsets from the start of its trace. */
export interface WaterfallRow {
  traceId: string;
  spanId: string;
  parentId: string | null;
  /** Nesting under the span's parent in this trace; roots are 0. */
  depth: number;
  hop: string;
  stage: string;
  startMs: number;
  durationMs: number;
  status: "OK" | "ERROR";
  /** From the span's `baton.attempt` tag; null when the span does not say. */
  attempts: number | null;
  /** The error message, when the span failed. */
  error: string | null;
  /** Where a failed message went (`retry`, `dead-letter`), from the stage runner's `baton.failure.route` tag. */
  route: string | null;
}

/** A trace laid out for display. */
export interface Waterfall {
  traceId: string;
  /** Epoch milliseconds of the earliest span. */
  startedAt: number;
  durationMs: number;
  rows: WaterfallRow[];
}

const attemptTags = ["baton.attempt", "baton.attempts"];

function stageOf(span: TraceSpan): string {
  const tagged = span.tags?.["baton.stage"];
  if (tagged !== undefined && tagged !== "") return tagged;
  const service = span.localEndpoint?.serviceName;
  if (service === undefined || service === "") return "?";
  return service.replace(/^baton-/, "");
}

function attemptsOf(span: TraceSpan): number | null {
  for (const tag of attemptTags) {
    const value = Number(span.tags?.[tag]);
    if (span.tags?.[tag] !== undefined && Number.isFinite(value)) return value;
  }
  return null;
}

function errorOf(span: TraceSpan): string | null {
  const tags = span.tags ?? {};
  if (tags.error !== undefined) return tags.error === "" ? "error" : tags.error;
  if (tags["otel.status_code"] === "ERROR") return tags["otel.status_description"] ?? "error";
  return null;
}

function byStart(a: TraceSpan, b: TraceSpan): number {
  return (a.timestamp ?? 0) - (b.timestamp ?? 0) || (a.name ?? "").localeCompare(b.name ?? "");
}

/**
 * Lays one trace's spans out as a waterfall: depth-first from the roots, children under their parent in start
 * order. A span whose parent is missing from the trace (not exported yet, or from a process that does not export)
 * is shown as a root, so nothing is hidden.
 */
export function buildWaterfall(spans: TraceSpan[]): Waterfall {
  const first = spans[0];
  if (first === undefined) return { traceId: "", startedAt: 0, durationMs: 0, rows: [] };
  const ids = new Set(spans.map((span) => span.id));
  const children = new Map<string, TraceSpan[]>();
  const roots: TraceSpan[] = [];
  for (const span of spans) {
    if (span.parentId !== undefined && span.parentId !== span.id && ids.has(span.parentId)) {
      const siblings = children.get(span.parentId) ?? [];
      siblings.push(span);
      children.set(span.parentId, siblings);
    } else roots.push(span);
  }
  const timed = spans.filter((span) => span.timestamp !== undefined);
  const start = timed.length === 0 ? 0 : Math.min(...timed.map((span) => span.timestamp ?? 0));
  const end = Math.max(start, ...timed.map((span) => (span.timestamp ?? 0) + (span.duration ?? 0)));
  const rows: WaterfallRow[] = [];
  const visited = new Set<TraceSpan>();
  const visit = (span: TraceSpan, depth: number): void => {
    if (visited.has(span)) return;
    visited.add(span);
    const error = errorOf(span);
    rows.push({
      traceId: span.traceId,
      spanId: span.id,
      parentId: span.parentId ?? null,
      depth,
      hop: span.name ?? "(unnamed)",
      stage: stageOf(span),
      startMs: ((span.timestamp ?? start) - start) / 1_000,
      durationMs: (span.duration ?? 0) / 1_000,
      status: error === null ? "OK" : "ERROR",
      attempts: attemptsOf(span),
      error,
      route: span.tags?.["baton.failure.route"] ?? null,
    });
    for (const child of (children.get(span.id) ?? []).sort(byStart)) visit(child, depth + 1);
  };
  for (const root of roots.sort(byStart)) visit(root, 0);
  for (const span of spans) visit(span, 0);
  return { traceId: first.traceId, startedAt: Math.floor(start / 1_000), durationMs: (end - start) / 1_000, rows };
}

/**
 * The waterfalls of a request's traces, oldest first. One request can own several traces (a person's approval
 * answer, the planner's deadline timer, a resubmission of the same id each start one), so all are kept.
 */
export function buildWaterfalls(traces: TraceSpan[][]): Waterfall[] {
  const byTrace = new Map<string, TraceSpan[]>();
  const seen = new Set<string>();
  for (const span of traces.flat()) {
    const key = `${span.traceId}/${span.id}/${span.kind ?? ""}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const spans = byTrace.get(span.traceId) ?? [];
    spans.push(span);
    byTrace.set(span.traceId, spans);
  }
  return [...byTrace.values()].map(buildWaterfall).sort((a, b) => a.startedAt - b.startedAt);
}

/** Where Zipkin's UI shows a trace. */
export function traceUrl(zipkinUrl: string, traceId: string): string {
  return `${zipkinUrl.replace(/\/+$/, "")}/zipkin/traces/${traceId}`;
}

function milliseconds(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function fit(text: string, width: number): string {
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
}

/** A bar of `width` cells marking [start, start + duration) of a trace lasting `total`. */
export function timelineBar(startMs: number, durationMs: number, totalMs: number, width: number): string {
  if (width <= 0) return "";
  const scale = totalMs > 0 ? width / totalMs : 0;
  const from = Math.min(width - 1, Math.max(0, Math.floor(startMs * scale)));
  const to = Math.min(width, Math.max(from + 1, Math.round((startMs + durationMs) * scale)));
  return " ".repeat(from) + "█".repeat(to - from) + " ".repeat(width - to);
}

/** Options for {@link renderWaterfall}. */
export interface RenderWaterfallOptions {
  /** Zipkin's base URL, for the link to the trace in its UI. */
  zipkinUrl: string;
  /** Cells of the timeline bar. */
  barWidth?: number;
  /** Widest hop column, indentation included. */
  maxHopWidth?: number;
}

/** A waterfall for people: a header with the trace's UI link, then one line per hop with its bar. */
export function renderWaterfall(waterfall: Waterfall, options: RenderWaterfallOptions): string[] {
  const barWidth = options.barWidth ?? 40;
  const hops = waterfall.rows.map((row) => `${"  ".repeat(row.depth)}${row.hop}`);
  const hopWidth = Math.min(options.maxHopWidth ?? 56, Math.max(3, ...hops.map((hop) => hop.length)));
  const stageWidth = Math.max(5, ...waterfall.rows.map((row) => row.stage.length));
  const errors = waterfall.rows.filter((row) => row.status === "ERROR").length;
  const lines = [
    `trace ${waterfall.traceId}  ${waterfall.rows.length} span${waterfall.rows.length === 1 ? "" : "s"}  ` +
      `${milliseconds(waterfall.durationMs)} ms  started ${new Date(waterfall.startedAt).toISOString()}` +
      (errors > 0 ? `  ${errors} error${errors === 1 ? "" : "s"}` : ""),
    `  ${traceUrl(options.zipkinUrl, waterfall.traceId)}`,
    `${fit("hop", hopWidth)}  ${"stage".padEnd(stageWidth)}  ${"start ms".padStart(8)}  ${"dur ms".padStart(8)}  status  attempts  timeline`,
  ];
  waterfall.rows.forEach((row, index) => {
    const note = row.error === null ? "" : `  ${row.route === null ? "" : `${row.route}: `}${row.error}`;
    lines.push(
      `${fit(hops[index] ?? row.hop, hopWidth)}  ${row.stage.padEnd(stageWidth)}  ` +
        `${milliseconds(row.startMs).padStart(8)}  ${milliseconds(row.durationMs).padStart(8)}  ` +
        `${row.status.padEnd(6)}  ${(row.attempts === null ? "" : String(row.attempts)).padStart(8)}  ` +
        `|${timelineBar(row.startMs, row.durationMs, waterfall.durationMs, barWidth)}|${note}`,
    );
  });
  return lines;
}
