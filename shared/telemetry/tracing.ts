import { NodeSDK } from "@opentelemetry/sdk-node";
import { ZipkinExporter } from "@opentelemetry/exporter-zipkin";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NoopSpanProcessor,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { trace, type Tracer } from "@opentelemetry/api";
import type { BackboneConfig } from "../config.ts";

/** Options for {@link startTracing}. */
export interface TracingOptions {
  serviceName: string;
  config: Pick<
    BackboneConfig,
    "OTEL_TRACES_EXPORTER" | "OTEL_EXPORTER_ZIPKIN_ENDPOINT" | "OTEL_EXPORTER_OTLP_ENDPOINT"
  >;
}

/** A running tracer provider; `shutdown` flushes every span still buffered. */
export interface Tracing {
  tracer: Tracer;
  shutdown(): Promise<void>;
}

function spanProcessors(options: TracingOptions): SpanProcessor[] {
  const { config, serviceName } = options;
  switch (config.OTEL_TRACES_EXPORTER) {
    case "zipkin":
      return [
        new BatchSpanProcessor({
          exporter: new ZipkinExporter({ url: config.OTEL_EXPORTER_ZIPKIN_ENDPOINT, serviceName }),
          scheduledDelayMillis: 500,
        }),
      ];
    case "otlp":
      return [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter(
            config.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
              ? {}
              : { url: `${config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, "")}/v1/traces` },
          ),
        }),
      ];
    case "console":
      return [new BatchSpanProcessor({ exporter: new ConsoleSpanExporter() })];
    case "none":
      // Spans are still created and propagated (downstream stages keep the trace); they are just not exported.
      return [new NoopSpanProcessor()];
  }
}

/**
 * Starts the OpenTelemetry Node SDK for one Baton process. Spans go to Zipkin's own format by default
 * (the local stack's Zipkin has no OTLP intake, see docs/decisions/002-trace-backend.md) or to OTLP.
 * Auto-instrumentation is off: Baton carries trace context through Kafka headers itself.
 */
export function startTracing(options: TracingOptions): Tracing {
  const sdk = new NodeSDK({
    serviceName: options.serviceName,
    spanProcessors: spanProcessors(options),
    textMapPropagator: new W3CTraceContextPropagator(),
    instrumentations: [],
    autoDetectResources: false,
  });
  sdk.start();
  return {
    tracer: trace.getTracer("baton"),
    shutdown: () => sdk.shutdown(),
  };
}
