import { context, propagation, type Context } from "@opentelemetry/api";

/** Text headers carrying W3C trace context (`traceparent`, `tracestate`) and baggage (`baggage`). */
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

/** The baggage entry naming the tenant a request belongs to, carried with its trace context from hop to hop. */
const tenantEntry = "baton.tenant";

/** The context with the request's tenant in its baggage, so every later hop can attribute its costs to it. */
export function withTenant(tenant: string, from: Context = context.active()): Context {
  const baggage = propagation.getBaggage(from) ?? propagation.createBaggage();
  return propagation.setBaggage(from, baggage.setEntry(tenantEntry, { value: tenant }));
}

/** The tenant the (default: active) context's baggage names, if any. */
export function tenantOf(from: Context = context.active()): string | undefined {
  return propagation.getBaggage(from)?.getEntry(tenantEntry)?.value;
}
