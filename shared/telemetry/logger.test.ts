import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { isSpanContextValid, type SpanContext } from "@opentelemetry/api";
import { createLogger } from "./logger.ts";
import { startTracing, type Tracing } from "./tracing.ts";
import { backboneConfigSchema } from "../config.ts";

interface LogLine {
  service?: string;
  msg?: string;
  level?: number;
  trace_id?: string;
  span_id?: string;
}

function capturingLogger(service: string) {
  const lines: LogLine[] = [];
  const destination = { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) };
  return { logger: createLogger({ service, destination }), lines };
}

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

describe("createLogger", () => {
  it("a line written inside a span carries that span's trace_id and span_id", () => {
    const { logger, lines } = capturingLogger("planner");
    const spanContext = tracing.tracer.startActiveSpan("plan", (span) => {
      logger.info("planning");
      span.end();
      return span.spanContext();
    });
    expect(isSpanContextValid(spanContext)).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: "planning", trace_id: spanContext.traceId, span_id: spanContext.spanId });
  });

  it("a line written outside any span carries neither trace_id nor span_id", () => {
    const { logger, lines } = capturingLogger("planner");
    logger.info("idle");
    expect(lines).toHaveLength(1);
    expect(lines[0]?.msg).toBe("idle");
    expect(lines[0]).not.toHaveProperty("trace_id");
    expect(lines[0]).not.toHaveProperty("span_id");
  });

  it("a line in a nested span names the inner span and the shared trace", () => {
    const { logger, lines } = capturingLogger("executor");
    const { outer, inner } = tracing.tracer.startActiveSpan(
      "outer",
      (outerSpan): { outer: SpanContext; inner: SpanContext } => {
        const innerContext = tracing.tracer.startActiveSpan("inner", (innerSpan) => {
          logger.info("inside");
          innerSpan.end();
          return innerSpan.spanContext();
        });
        outerSpan.end();
        return { outer: outerSpan.spanContext(), inner: innerContext };
      },
    );
    expect(inner.spanId).not.toBe(outer.spanId);
    expect(lines[0]).toMatchObject({ trace_id: outer.traceId, span_id: inner.spanId });
  });

  it("every line names the service", () => {
    const { logger, lines } = capturingLogger("summarizer");
    logger.warn("one");
    logger.error("two");
    expect(lines.map((line) => line.service)).toEqual(["summarizer", "summarizer"]);
  });

  it("drops lines below the chosen level", () => {
    const lines: LogLine[] = [];
    const logger = createLogger({
      service: "policy",
      level: "warn",
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
    });
    logger.info("hidden");
    logger.warn("shown");
    expect(lines.map((line) => line.msg)).toEqual(["shown"]);
  });
});
