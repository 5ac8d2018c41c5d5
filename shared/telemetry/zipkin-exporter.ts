import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { ExportResultCode, hrTimeToMicroseconds, type ExportResult } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";

/** One span in Zipkin's v2 JSON model. */
export interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind?: "CLIENT" | "SERVER" | "PRODUCER" | "CONSUMER";
  timestamp: number;
  duration: number;
  localEndpoint: { serviceName: string };
  tags: Record<string, string>;
  annotations?: Array<{ timestamp: number; value: string }>;
}

const zipkinKinds: Partial<Record<SpanKind, ZipkinSpan["kind"]>> = {
  [SpanKind.CLIENT]: "CLIENT",
  [SpanKind.SERVER]: "SERVER",
  [SpanKind.PRODUCER]: "PRODUCER",
  [SpanKind.CONSUMER]: "CONSUMER",
};

/** A finished span as Zipkin's v2 JSON, as @opentelemetry/exporter-zipkin writes it (attributes and status as tags). */
export function toZipkinSpan(span: ReadableSpan, serviceName: string): ZipkinSpan {
  const tags: Record<string, string> = {};
  for (const [key, value] of Object.entries(span.attributes)) tags[key] = String(value);
  if (span.status.code !== SpanStatusCode.UNSET) tags["otel.status_code"] = SpanStatusCode[span.status.code];
  if (span.status.code === SpanStatusCode.ERROR && span.status.message) tags.error = span.status.message;
  if (span.droppedAttributesCount > 0) tags["otel.dropped_attributes_count"] = String(span.droppedAttributesCount);
  if (span.droppedEventsCount > 0) tags["otel.dropped_events_count"] = String(span.droppedEventsCount);
  for (const [key, value] of Object.entries(span.resource.attributes)) tags[key] = String(value);
  const kind = zipkinKinds[span.kind];
  const parentId = span.parentSpanContext?.spanId;
  return {
    traceId: span.spanContext().traceId,
    id: span.spanContext().spanId,
    ...(parentId === undefined ? {} : { parentId }),
    name: span.name,
    ...(kind === undefined ? {} : { kind }),
    timestamp: hrTimeToMicroseconds(span.startTime),
    duration: Math.round(hrTimeToMicroseconds(span.duration)),
    localEndpoint: { serviceName },
    tags,
    ...(span.events.length === 0
      ? {}
      : {
          annotations: span.events.map((event) => ({
            timestamp: Math.round(hrTimeToMicroseconds(event.time)),
            value: event.name,
          })),
        }),
  };
}

/** Options of {@link BoundedZipkinExporter}. */
export interface ZipkinExporterOptions {
  /** Zipkin's span intake, e.g. http://127.0.0.1:9411/api/v2/spans. */
  url: string;
  serviceName: string;
  /** How long one POST may take before it is abandoned and its spans count as failed. */
  timeoutMs: number;
}

/**
 * Posts spans to Zipkin's v2 API, each POST abandoned after `timeoutMs` (the stock exporter waits on an unanswered
 * request forever, and its shutdown with it). A failed export is not retried: its spans are dropped and counted by
 * the span processor, so a trace backend that is down or full costs the process nothing but those spans.
 */
export class BoundedZipkinExporter implements SpanExporter {
  private readonly inFlight = new Map<Promise<void>, number>();
  private stopped = false;
  private readonly options: ZipkinExporterOptions;

  constructor(options: ZipkinExporterOptions) {
    this.options = options;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.stopped) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error("exporter shut down") });
      return;
    }
    const sending = this.post(spans).then(resultCallback);
    this.inFlight.set(sending, spans.length);
    void sending.finally(() => this.inFlight.delete(sending));
  }

  /** Spans in POSTs not answered yet. */
  spansInFlight(): number {
    let total = 0;
    for (const count of this.inFlight.values()) total += count;
    return total;
  }

  private async post(spans: ReadableSpan[]): Promise<ExportResult> {
    const serviceName = (span: ReadableSpan): string => {
      const named = span.resource.attributes["service.name"];
      return typeof named === "string" ? named : this.options.serviceName;
    };
    try {
      const response = await fetch(this.options.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(spans.map((span) => toZipkinSpan(span, serviceName(span)))),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await response.body?.cancel();
      return response.ok
        ? { code: ExportResultCode.SUCCESS }
        : { code: ExportResultCode.FAILED, error: new Error(`Zipkin answered ${response.status}`) };
    } catch (error) {
      return { code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) };
    }
  }

  /** Waits for the POSTs under way (each bounded by the timeout), then refuses further exports. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    await this.forceFlush();
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.inFlight.keys());
  }
}
