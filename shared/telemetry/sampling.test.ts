import { describe, expect, it } from "vitest";
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace, type Attributes } from "@opentelemetry/api";
import { SamplingDecision, type Sampler } from "@opentelemetry/sdk-trace";
import { backboneConfigSchema } from "../config.ts";
import { createSampler, fullTraceAttributes } from "./sampling.ts";

const sampled = SamplingDecision.RECORD_AND_SAMPLED;

function sampler(env: Record<string, string> = {}): Sampler {
  return createSampler(backboneConfigSchema.parse(env));
}

function randomTraceId(): string {
  return Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join("");
}

/** The share of `count` new root spans the sampler keeps. */
function rootShare(subject: Sampler, count: number, attributes: Attributes = {}): number {
  let kept = 0;
  for (let index = 0; index < count; index++) {
    const result = subject.shouldSample(ROOT_CONTEXT, randomTraceId(), "root", SpanKind.INTERNAL, attributes, []);
    if (result.decision === sampled) kept++;
  }
  return kept / count;
}

function underRemoteParent(subject: Sampler, flags: TraceFlags): SamplingDecision {
  const parent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: randomTraceId(),
    spanId: "00f067aa0ba902b7",
    traceFlags: flags,
    isRemote: true,
  });
  return subject.shouldSample(parent, randomTraceId(), "process", SpanKind.CONSUMER, {}, []).decision;
}

describe("createSampler", () => {
  it("by default keeps about a tenth of new traces and follows the sampled flag of a parent from another process", () => {
    const subject = sampler();
    expect(rootShare(subject, 20_000)).toBeGreaterThan(0.08);
    expect(rootShare(subject, 20_000)).toBeLessThan(0.12);
    expect(underRemoteParent(subject, TraceFlags.SAMPLED)).toBe(sampled);
    expect(underRemoteParent(subject, TraceFlags.NONE)).toBe(SamplingDecision.NOT_RECORD);
  });

  it("honours OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG", () => {
    expect(
      rootShare(sampler({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.5" }), 20_000),
    ).toBeCloseTo(0.5, 1);
    expect(rootShare(sampler({ OTEL_TRACES_SAMPLER: "always_on" }), 100)).toBe(1);
    expect(rootShare(sampler({ OTEL_TRACES_SAMPLER: "parentbased_always_off" }), 100)).toBe(0);
    expect(
      underRemoteParent(
        sampler({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0" }),
        TraceFlags.SAMPLED,
      ),
    ).toBe(SamplingDecision.NOT_RECORD);
  });

  it("keeps every trace whose root asks for it in full, unless sampling is off", () => {
    expect(rootShare(sampler({ OTEL_TRACES_SAMPLER_ARG: "0" }), 100, fullTraceAttributes)).toBe(1);
    expect(
      rootShare(
        sampler({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0" }),
        100,
        fullTraceAttributes,
      ),
    ).toBe(1);
    expect(rootShare(sampler({ OTEL_TRACES_SAMPLER: "always_off" }), 100, fullTraceAttributes)).toBe(0);
  });

  it("a sampler argument outside 0..1 is a configuration error", () => {
    expect(() => backboneConfigSchema.parse({ OTEL_TRACES_SAMPLER_ARG: "2" })).toThrow();
    expect(() => backboneConfigSchema.parse({ OTEL_TRACES_SAMPLER: "sometimes" })).toThrow();
  });
});
