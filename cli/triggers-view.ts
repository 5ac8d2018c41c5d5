import type { WorkflowTrigger } from "../services/gateway/triggers/trigger-requests.ts";
import { triggerLabel } from "../services/gateway/triggers/trigger-requests.ts";
import { defaultCatchUp, scheduleOf } from "../services/gateway/triggers/trigger-schema.ts";

/** One declared trigger as `baton triggers --list` shows it. */
export interface TriggerSummary {
  trigger: string;
  kind: "cron" | "topic";
  /** The cron expression and zone, or the topic and its format. */
  source: string;
  tenant: string;
  /** Cron: the next instants; topic: empty. */
  next: string[];
  /** Cron: what is caught up after a gap; topic: whether records are filtered. */
  detail: string;
}

/** What each trigger is and, for cron, when it fires next. */
export function summarizeTriggers(entries: readonly WorkflowTrigger[], now: Date, count = 3): TriggerSummary[] {
  return entries.map((entry) => {
    const { trigger } = entry;
    if (trigger.cron !== undefined) {
      const catchUp = trigger.catchUp ?? defaultCatchUp;
      return {
        trigger: triggerLabel(entry),
        kind: "cron",
        source: `${trigger.cron} (${trigger.timezone ?? "UTC"})`,
        tenant: trigger.tenant,
        next: scheduleOf(trigger.cron, trigger.timezone)
          .nextRuns(count, now)
          .map((instant) => instant.toISOString()),
        detail:
          catchUp.last === 0
            ? "no catch-up"
            : `catch-up: latest ${catchUp.last} missed within ${Math.round(catchUp.withinMs / 1000)} s`,
      };
    }
    return {
      trigger: triggerLabel(entry),
      kind: "topic",
      source: `${trigger.topic ?? ""} (${trigger.format ?? "json"})`,
      tenant: trigger.tenant,
      next: [],
      detail: trigger.match === undefined ? "every record" : "records that match",
    };
  });
}

/** The summaries as lines for people. */
export function formatTriggers(summaries: readonly TriggerSummary[]): string[] {
  if (summaries.length === 0) return ["no workflow declares triggers"];
  return summaries.flatMap((summary) => [
    `${summary.trigger}  ${summary.kind} ${summary.source}  tenant ${summary.tenant}  ${summary.detail}`,
    ...(summary.next.length === 0 ? [] : [`  next: ${summary.next.join(", ")}`]),
  ]);
}
