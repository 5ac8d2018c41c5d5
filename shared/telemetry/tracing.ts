import { NodeSDK } from "@opentelemetry/sdk-node";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NoopSpanProcessor,
  TracerProvider,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { trace, type Tracer } from "@opentelemetry/api";
import type { BackboneConfig } from "../config.ts";
import { createSampler } from "./sampling.ts";
import { SpanExportCounts, type SpanExportSnapshot } from "./span-export-counts.ts";
import { BoundedZipkinExporter } from "./zipkin-exporter.ts";

/** Options for {@link startTracing}. */
export interface TracingOptions {
  serviceName: string;
  config: Pick<
    BackboneConfig,
    | "OTEL_TRACES_EXPORTER"
    | "OTEL_EXPORTER_ZIPKIN_ENDPOINT"
    | "OTEL_EXPORTER_OTLP_ENDPOINT"
    | "OTEL_TRACES_SAMPLER"
    | "OTEL_TRACES_SAMPLER_ARG"
    | "OTEL_BSP_MAX_QUEUE_SIZE"
    | "OTEL_BSP_EXPORT_TIMEOUT"
  >;
}

/** How long {@link Tracing.shutdown} waits for the last spans by default: a CLI command exits within this. */
export const defaultTracingShutdownMs = 2_000;

/** A running tracer provider. */
export interface Tracing {
  tracer: Tracer;
  /** Exported and dropped spans so far (stages show them on /metrics). */
  exportCounts(): SpanExportSnapshot;
  /**
   * Exports the spans still buffered, giving up after `timeoutMs` (spans left count as dropped). Never rejects: a
   * trace backend that is down or slow never fails or holds up the process that stops.
   */
  shutdown(timeoutMs?: number): Promise<void>;
}

function exporterFor(options: TracingOptions): SpanExporter | undefined {
  const { config, serviceName } = options;
  switch (config.OTEL_TRACES_EXPORTER) {
    case "zipkin":
      return new BoundedZipkinExporter({
        url: config.OTEL_EXPORTER_ZIPKIN_ENDPOINT,
        serviceName,
        timeoutMs: config.OTEL_BSP_EXPORT_TIMEOUT,
      });
    case "otlp":
      return new OTLPTraceExporter({
        timeoutMillis: config.OTEL_BSP_EXPORT_TIMEOUT,
        ...(config.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
          ? {}
          : { url: `${config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, "")}/v1/traces` }),
      });
    case "console":
      return new ConsoleSpanExporter();
    case "none":
      return undefined;
  }
}

function spanProcessor(
  options: TracingOptions,
  exporter: SpanExporter | undefined,
  counts: SpanExportCounts,
): SpanProcessor {
  // With "none", spans are still created and propagated (downstream stages keep the trace); they are not exported.
  if (exporter === undefined) return new NoopSpanProcessor();
  return new BatchSpanProcessor({
    exporter,
    maxQueueSize: options.config.OTEL_BSP_MAX_QUEUE_SIZE,
    maxExportBatchSize: Math.min(512, options.config.OTEL_BSP_MAX_QUEUE_SIZE),
    scheduledDelayMillis: 500,
    // The exporter gives up first; this only guards an exporter that never calls back.
    exportTimeoutMillis: options.config.OTEL_BSP_EXPORT_TIMEOUT + 1_000,
    selfObsMeterProvider: counts.meterProvider,
  });
}

/**
 * Starts OpenTelemetry tracing for one Baton process. Spans go to Zipkin's own format by default (the local stack's
 * Zipkin has no OTLP intake, see docs/decisions/002-trace-backend.md) or to OTLP. Sampling follows
 * OTEL_TRACES_SAMPLER(_ARG); exports are bounded in time and memory (docs/decisions/008-bounded-tracing.md).
 * The Node SDK only installs the context manager and the W3C propagators (trace context and baggage); the tracer
 * provider is this process's own (the first one started is also the global one). Auto-instrumentation, SDK metrics
 * and logs are off: Baton carries trace context through Kafka headers itself and keeps its metrics in Prometheus.
 */
export function startTracing(options: TracingOptions): Tracing {
  const sdk = new NodeSDK({
    spanProcessors: [],
    textMapPropagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
    autoDetectResources: false,
  });
  sdk.start();
  const counts = new SpanExportCounts();
  const exporter = exporterFor(options);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": options.serviceName }),
    sampler: createSampler(options.config),
    spanProcessors: [spanProcessor(options, exporter, counts)],
  });
  trace.setGlobalTracerProvider(provider);
  let stopped: Promise<void> | undefined;
  return {
    tracer: provider.getTracer("baton"),
    exportCounts: () => counts.snapshot(),
    shutdown(timeoutMs = defaultTracingShutdownMs) {
      stopped ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          counts.dropUnfinished(exporter instanceof BoundedZipkinExporter ? exporter.spansInFlight() : 0);
          resolve();
        }, timeoutMs);
        timer.unref();
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        provider.shutdown().then(done, done);
      });
      return stopped;
    },
  };
}
