import { context, propagation, type Context } from "@opentelemetry/api";

/** Text headers carrying W3C trace context (`traceparent`, `tracestate`). */
export type TraceCarrier = Record<string, string>;

/** Writes the given (default: active) context into a fresh carrier of W3C trace headers. */
export function injectTraceContext(from: Context = context.active()): TraceCarrier {
  const carrier: TraceCarrier = {};
  propagation.inject(from, carrier);
  return carrier;
}

/** Restores the context a producer wrote, on top of the active context. */
export function extractTraceContext(carrier: TraceCarrier): Context {
  return propagation.extract(context.active(), carrier);
}
