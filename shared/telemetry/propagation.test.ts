import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { trace, isSpanContextValid, type SpanContext } from "@opentelemetry/api";
import { injectTraceContext, extractTraceContext, type TraceCarrier } from "./propagation.ts";
import { startTracing, type Tracing } from "./tracing.ts";
import { backboneConfigSchema } from "../config.ts";

let tracing: Tracing;

beforeAll(() => {
  tracing = startTracing({
    serviceName: "t",
    config: backboneConfigSchema.parse({ OTEL_TRACES_EXPORTER: "none", OTEL_TRACES_SAMPLER: "always_on" }),
  });
});

afterAll(async () => {
  await tracing.shutdown();
});

function injectInsideSpan(): { carrier: TraceCarrier; spanContext: SpanContext } {
  return tracing.tracer.startActiveSpan("produce", (span) => {
    const carrier = injectTraceContext();
    span.end();
    return { carrier, spanContext: span.spanContext() };
  });
}

describe("trace context through message headers", () => {
  it("injecting inside a span writes a W3C traceparent naming that span", () => {
    const { carrier, spanContext } = injectInsideSpan();
    expect(isSpanContextValid(spanContext)).toBe(true);
    expect(carrier["traceparent"]).toBe(`00-${spanContext.traceId}-${spanContext.spanId}-01`);
  });

  it("extracting the carrier restores the producer's trace as a remote parent", () => {
    const { carrier, spanContext } = injectInsideSpan();
    const restored = trace.getSpanContext(extractTraceContext(carrier));
    expect(restored?.traceId).toBe(spanContext.traceId);
    expect(restored?.spanId).toBe(spanContext.spanId);
    expect(restored?.isRemote).toBe(true);
  });

  it("a span started under the extracted context joins the producer's trace", () => {
    const { carrier, spanContext } = injectInsideSpan();
    const child = tracing.tracer.startSpan("consume", {}, extractTraceContext(carrier));
    child.end();
    expect(child.spanContext().traceId).toBe(spanContext.traceId);
    expect(child.spanContext().spanId).not.toBe(spanContext.spanId);
  });

  it("injecting outside any span writes no traceparent", () => {
    expect(injectTraceContext()).not.toHaveProperty("traceparent");
  });

  it("extracting a carrier without trace headers gives no span context", () => {
    expect(trace.getSpanContext(extractTraceContext({ tenant: "acme" }))).toBeUndefined();
  });
});
