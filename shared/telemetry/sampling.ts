import type { Attributes, Context, Link, SpanKind } from "@opentelemetry/api";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SamplingResult,
} from "@opentelemetry/sdk-trace";
import type { BackboneConfig } from "../config.ts";

/**
 * Attributes of a root span that asks for its whole trace to be kept whatever the ratio (`baton submit` sets them, so
 * `baton trace <id>` finds its request). `sampling.priority` is the OpenTracing tag for the same wish.
 */
export const fullTraceAttributes = { "sampling.priority": 1 } as const;

/** A root sampler that keeps a trace whose root asks for it (`sampling.priority` > 0) and asks `rest` otherwise. */
class RequestedOrSampler implements Sampler {
  private readonly always = new AlwaysOnSampler();
  private readonly rest: Sampler;

  constructor(rest: Sampler) {
    this.rest = rest;
  }

  shouldSample(
    context: Context,
    traceId: string,
    spanName: string,
    spanKind: SpanKind,
    attributes: Attributes,
    links: Link[],
  ): SamplingResult {
    const priority = attributes["sampling.priority"];
    return typeof priority === "number" && priority > 0
      ? this.always.shouldSample()
      : this.rest.shouldSample(context, traceId, spanName, spanKind, attributes, links);
  }

  toString(): string {
    return `RequestedOr{${this.rest.toString()}}`;
  }
}

/**
 * The sampler OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG name, as the OpenTelemetry specification defines them,
 * except that a root span asking for a full trace ({@link fullTraceAttributes}) is kept unless sampling is off.
 */
export function createSampler(
  config: Pick<BackboneConfig, "OTEL_TRACES_SAMPLER" | "OTEL_TRACES_SAMPLER_ARG">,
): Sampler {
  const name = config.OTEL_TRACES_SAMPLER;
  if (name === "always_off" || name === "parentbased_always_off") {
    return name === "always_off" ? new AlwaysOffSampler() : new ParentBasedSampler({ root: new AlwaysOffSampler() });
  }
  const root = new RequestedOrSampler(
    name.endsWith("traceidratio")
      ? new TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLER_ARG)
      : new AlwaysOnSampler(),
  );
  return name.startsWith("parentbased_") ? new ParentBasedSampler({ root }) : root;
}
