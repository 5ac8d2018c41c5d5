import type { Request } from "../../../shared/schemas/records.ts";
import { evaluate, render } from "../../../shared/templates.ts";
import type { TriggerDeclaration } from "./trigger-schema.ts";

/** A trigger with the workflow that declares it: what a fire submits. */
export interface WorkflowTrigger {
  workflow: string;
  trigger: TriggerDeclaration;
}

/** A record read from a trigger topic, its value decoded (JSON or Avro). Its content is untrusted. */
export interface TriggerRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: unknown;
  headers: Record<string, string>;
  timestamp: number;
}

/** What a record on a trigger topic leads to for one trigger. */
export type RecordOutcome =
  | { kind: "fire"; request: Request }
  /** The record does not pass the trigger's match: normal on a shared topic. */
  | { kind: "not-matching" }
  /** The record matches but cannot make a request (its input would be empty). */
  | { kind: "invalid"; reason: string };

/** `<workflow>.<trigger>`, how logs, metrics and request metadata name a trigger. */
export function triggerLabel(entry: WorkflowTrigger): string {
  return `${entry.workflow}.${entry.trigger.name}`;
}

/**
 * The requestId of a cron fire: the same for every gateway that fires the same scheduled instant, so the planner
 * starts one run however many fire it. No `/` (keys of later hops are `<requestId>/<stepId>`).
 */
export function cronRequestId(entry: WorkflowTrigger, scheduledAt: Date): string {
  return `trigger:${entry.workflow}:${entry.trigger.name}:${scheduledAt.toISOString()}`;
}

/**
 * The requestId of a topic fire: the record's position and its timestamp, so a record read again (redelivered,
 * replayed) is one run. The timestamp is stored with the record, the same at every read; it tells apart the records
 * at one position of a topic deleted and created again, whose offsets start over.
 */
export function recordRequestId(
  entry: WorkflowTrigger,
  record: Pick<TriggerRecord, "topic" | "partition" | "offset" | "timestamp">,
): string {
  const { topic, partition, offset, timestamp } = record;
  return `trigger:${entry.workflow}:${entry.trigger.name}:${topic}:${partition}:${offset}:${timestamp}`;
}

/** The request a cron trigger submits for one scheduled instant. */
export function cronRequest(entry: WorkflowTrigger, scheduledAt: Date, now: number): Request {
  const fire = fireData(entry, scheduledAt.toISOString());
  return requestOf(entry, cronRequestId(entry, scheduledAt), { fire }, now);
}

/** Whether a record passes a topic trigger's match, and if so the request it submits. */
export function recordOutcome(entry: WorkflowTrigger, record: TriggerRecord, now: number): RecordOutcome {
  const data = { fire: fireData(entry, new Date(now).toISOString()), record };
  if (entry.trigger.match !== undefined && !evaluate(entry.trigger.match, data)) return { kind: "not-matching" };
  const request = requestOf(entry, recordRequestId(entry, record), data, now);
  if (request.input.trim() === "")
    return { kind: "invalid", reason: `its input template renders empty: ${JSON.stringify(entry.trigger.input)}` };
  return { kind: "fire", request };
}

function fireData(entry: WorkflowTrigger, at: string): Record<string, string> {
  return { workflow: entry.workflow, trigger: entry.trigger.name, at };
}

/**
 * Fills the trigger's templates. Values from a record are only ever text in the input and metadata: they are not
 * templates themselves (a `{{ }}` in a record stays as written) and never pick the tenant or the workflow. A
 * metadata value that is exactly one reference to a field the record lacks is left out, so a workflow's
 * `exists` conditions see it missing.
 */
function requestOf(entry: WorkflowTrigger, requestId: string, data: unknown, now: number): Request {
  const metadata: Record<string, string> = {};
  for (const [key, template] of Object.entries(entry.trigger.metadata)) {
    const value = render(template, data);
    if (value === undefined || value === null) continue;
    metadata[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  metadata.triggeredBy = triggerLabel(entry);
  const input = render(entry.trigger.input, data);
  return {
    requestId,
    tenant: entry.trigger.tenant,
    input: typeof input === "string" ? input : input === undefined || input === null ? "" : JSON.stringify(input),
    workflow: entry.workflow,
    metadata,
    submittedAt: now,
  };
}
