import { InvalidArgumentError, Option, type Command } from "commander";
import { z } from "zod";
import { parseConfig } from "../shared/config.ts";
import { fetchFailureReason } from "./fetch-failure.ts";
import { runAction } from "./run-action.ts";
import { buildWaterfalls, renderWaterfall, traceUrl, type TraceSpan, type Waterfall } from "./trace-view.ts";

/**
 * Where `baton trace` reads traces: `ZIPKIN_URL`, else the Zipkin the processes export to
 * (`OTEL_EXPORTER_ZIPKIN_ENDPOINT` without its `/api/v2/spans`), else the local stack's.
 */
export const traceConfigSchema = z
  .object({
    ZIPKIN_URL: z.url().optional(),
    OTEL_EXPORTER_ZIPKIN_ENDPOINT: z.url().optional(),
  })
  .transform((env) => ({
    zipkinUrl: (
      env.ZIPKIN_URL ??
      env.OTEL_EXPORTER_ZIPKIN_ENDPOINT?.replace(/\/api\/v2\/spans\/?$/, "") ??
      "http://127.0.0.1:9411"
    ).replace(/\/+$/, ""),
  }));

/** Span tags that carry a request's id: the CLI's `submit request` span, and every Kafka send and process span (the key). */
export const requestIdTags = ["baton.request_id", "messaging.kafka.message.key"] as const;

const zipkinSpanSchema = z.object({
  traceId: z.string(),
  id: z.string(),
  parentId: z.string().optional(),
  name: z.string().optional(),
  kind: z.string().optional(),
  timestamp: z.number().optional(),
  duration: z.number().optional(),
  localEndpoint: z.object({ serviceName: z.string().optional() }).optional(),
  tags: z.record(z.string(), z.string()).optional(),
});
const zipkinTracesSchema = z.array(z.array(zipkinSpanSchema));

/** What to search for in {@link findRequestTraces}. */
export interface TraceQuery {
  zipkinUrl: string;
  requestId: string;
  /** How far back from now to search. */
  lookbackMs: number;
  /** Most traces per tag searched. */
  limit: number;
}

/** `90m` -> `90m`, `86400000` -> `1d`: an age as people write it. */
export function formatAge(milliseconds: number): string {
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
  ] as const) {
    if (milliseconds >= size && milliseconds % size === 0) return `${milliseconds / size}${unit}`;
  }
  return `${Math.round(milliseconds / 1_000)}s`;
}

async function tracesTagged(query: TraceQuery, tag: string): Promise<TraceSpan[][]> {
  const url = new URL(`${query.zipkinUrl}/api/v2/traces`);
  url.searchParams.set("annotationQuery", `${tag}=${query.requestId}`);
  url.searchParams.set("endTs", String(Date.now()));
  url.searchParams.set("lookback", String(query.lookbackMs));
  url.searchParams.set("limit", String(query.limit));
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw new Error(
      `cannot reach Zipkin at ${query.zipkinUrl} (${fetchFailureReason(error)}); is the stack up? run \`baton stack up\`, or point ZIPKIN_URL / --zipkin at your Zipkin`,
      { cause: error },
    );
  }
  if (!response.ok) {
    throw new Error(
      `Zipkin at ${query.zipkinUrl} answered ${response.status} to ${url.pathname}: ${await response.text()}`,
    );
  }
  const parsed = zipkinTracesSchema.safeParse(await response.json());
  if (!parsed.success) throw new Error(`Zipkin at ${query.zipkinUrl} answered something that is not a list of traces`);
  return parsed.data;
}

/** Every trace in Zipkin with a span tagged with the request's id, each as Zipkin returns it (all its spans). */
export async function findRequestTraces(query: TraceQuery): Promise<TraceSpan[][]> {
  const found = await Promise.all(requestIdTags.map((tag) => tracesTagged(query, tag)));
  return found.flat();
}

/** Why a request may have no trace yet, and what to check. */
export function noTraceMessage(query: TraceQuery): string {
  return [
    `no trace found for request ${query.requestId} in Zipkin at ${query.zipkinUrl} (searched the last ${formatAge(query.lookbackMs)}).`,
    "Check:",
    "  - is the stack up and are the stages running? `baton stack status`",
    "  - do the stages export traces? OTEL_TRACES_EXPORTER must be zipkin (the default), not none or otlp",
    "  - spans are exported in batches: a request submitted just now may need a few seconds",
    "  - Zipkin keeps traces in memory: a restarted Zipkin has none; an older request needs a longer --lookback",
  ].join("\n");
}

/** A request's traces as `--json` prints them. */
export function waterfallsJson(requestId: string, waterfalls: Waterfall[], zipkinUrl: string): unknown {
  return {
    requestId,
    traces: waterfalls.map((waterfall) => ({
      traceId: waterfall.traceId,
      url: traceUrl(zipkinUrl, waterfall.traceId),
      startedAt: new Date(waterfall.startedAt).toISOString(),
      durationMs: waterfall.durationMs,
      rows: waterfall.rows,
    })),
  };
}

function age(value: string): number {
  const match = /^(\d+)([smhd])$/.exec(value);
  if (match === null) throw new InvalidArgumentError(`expected an age (30m, 2h, 1d), got "${value}"`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0)
    throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return number;
}

function zipkinUrlOption(value: string): string {
  const parsed = z.url().safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(`expected a URL (http://127.0.0.1:9411), got "${value}"`);
  return parsed.data.replace(/\/+$/, "");
}

interface TraceOptions {
  zipkin?: string;
  lookback: number;
  limit: number;
  width: number;
  json?: boolean;
}

/** `baton trace <requestId>`. */
export function registerTraceCommand(program: Command): void {
  program
    .command("trace")
    .description("print a request's timeline as a waterfall, read from the trace backend (Zipkin), and its UI link")
    .argument("<requestId>", "the request's id (the key of its baton.requests message)")
    .option("--zipkin <url>", "Zipkin's base URL (default: ZIPKIN_URL, else http://127.0.0.1:9411)", zipkinUrlOption)
    .addOption(
      new Option("--lookback <age>", "how far back to search (30m, 2h, 1d)").argParser(age).default(86_400_000, "24h"),
    )
    .option("--limit <traces>", "most traces to read per tag searched", positiveInteger, 10)
    .option("--width <cells>", "width of the timeline bar", positiveInteger, 40)
    .option("--json", "print the rows as JSON")
    .addHelpText(
      "after",
      [
        "",
        "Finds every trace with a span tagged with the request id (baton.request_id on `submit request`,",
        "messaging.kafka.message.key on each Kafka send and process span). A request can own several traces",
        "(an approval answer, the deadline timer, a resubmission): each is printed, oldest first.",
        "Rows: hop (span name, indented under its parent), stage, start offset and duration in ms, OK or ERROR,",
        "attempts (when the span carries baton.attempt), and a bar on the trace's timeline.",
        "",
        "Examples:",
        "  $ baton trace 7d3f0c2e-5b1a-4c8e-9f0d-2a6b3c4d5e6f",
        "  $ ZIPKIN_URL=http://zipkin.internal:9411 baton trace 7d3f0c2e-… --lookback 2d --json",
        "",
      ].join("\n"),
    )
    .action(
      runAction(async (requestId: string, options: TraceOptions) => {
        const zipkinUrl = options.zipkin ?? parseConfig(traceConfigSchema, process.env).zipkinUrl;
        const query: TraceQuery = { zipkinUrl, requestId, lookbackMs: options.lookback, limit: options.limit };
        const waterfalls = buildWaterfalls(await findRequestTraces(query));
        if (waterfalls.length === 0) throw new Error(noTraceMessage(query));
        if (options.json === true) {
          console.log(JSON.stringify(waterfallsJson(requestId, waterfalls, zipkinUrl), null, 2));
          return;
        }
        if (waterfalls.length > 1) console.log(`request ${requestId}: ${waterfalls.length} traces, oldest first\n`);
        waterfalls.forEach((waterfall, index) => {
          if (index > 0) console.log("");
          for (const line of renderWaterfall(waterfall, { zipkinUrl, barWidth: options.width })) console.log(line);
        });
      }),
    );
}
