import type { Event } from "../shared/schemas/records.ts";

const labels: Record<Event["type"], string> = {
  PLANNED: "planned",
  ALLOWED: "allowed",
  DENIED: "denied",
  WAITING_FOR_APPROVAL: "waiting for approval",
  APPROVED: "approved",
  REJECTED: "rejected",
  STARTED: "started",
  RETRIED: "will retry",
  FINISHED: "finished",
  PARTIAL_TEXT: "writing",
  RESPONSE: "response",
  OTHER: "other",
};

/**
 * One line for people per event, `+<ms since submitted>` first: `baton submit --follow` prints them as they come.
 * Partial text is printed by the caller as it streams, so it gets no line of its own here.
 */
export function formatEvent(event: Event, submittedAt: number): string {
  const elapsed = `+${String(Math.max(0, event.at - submittedAt)).padStart(5)} ms`;
  const step = event.stepId === null ? "" : ` ${event.stepId}`;
  const tool = event.tool === null ? "" : ` (${event.tool})`;
  const attempt = event.attempt !== null && event.attempt > 1 ? ` attempt ${event.attempt}` : "";
  const status = event.status === null ? "" : ` ${event.status}`;
  const detail = event.detail === null ? "" : `: ${event.detail}`;
  return `${elapsed}  ${labels[event.type]}${step}${tool}${status}${attempt}${detail}`;
}
