import type { FollowedEvent } from "../../shared/kafka/event-feed.ts";
import type { Request } from "../../shared/schemas/records.ts";
import { responseOf, type requestStatusSchema, type stepViewSchema } from "./http-api.ts";
import type { z } from "zod";

type StepView = z.output<typeof stepViewSchema>;
type RequestStatus = z.output<typeof requestStatusSchema>;

const stepStatusOf: Partial<Record<FollowedEvent["event"]["type"], string>> = {
  PLANNED: "PLANNED",
  ALLOWED: "ALLOWED",
  WAITING_FOR_APPROVAL: "WAITING_FOR_APPROVAL",
  APPROVED: "APPROVED",
  REJECTED: "REJECTED",
  STARTED: "RUNNING",
  RETRIED: "RETRYING",
  DENIED: "DENIED",
};

/**
 * Where a request stands, from its events in order: each step's latest status and attempts, and the response once
 * there is one (whose steps then are the record: skipped steps included, durations known).
 */
export function requestStatus(request: Request, events: readonly FollowedEvent[]): RequestStatus {
  const steps = new Map<string, StepView>();
  let response: RequestStatus["response"] = null;
  for (const { event } of events) {
    if (event.type === "RESPONSE") {
      response = responseOf(event.response);
      continue;
    }
    if (event.stepId === null) continue;
    const status = event.type === "FINISHED" ? (event.status ?? "FINISHED") : stepStatusOf[event.type];
    if (status === undefined) continue;
    const known = steps.get(event.stepId);
    steps.set(event.stepId, {
      stepId: event.stepId,
      tool: event.tool ?? known?.tool ?? "",
      status,
      attempts: Math.max(known?.attempts ?? 0, event.attempt ?? 0),
      durationMs: null,
    });
  }
  const base = {
    requestId: request.requestId,
    tenant: request.tenant,
    input: request.input,
    workflow: request.workflow,
    submittedAt: request.submittedAt,
  };
  if (response !== null) return { ...base, status: response.status, steps: response.steps, response };
  return { ...base, status: events.length === 0 ? "ACCEPTED" : "RUNNING", steps: [...steps.values()], response: null };
}
