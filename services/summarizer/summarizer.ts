import type { OutgoingMessage } from "../../shared/kafka/producer.ts";
import type { CompletedRun, Draft, ResponseStatus } from "../../shared/schemas/records.ts";
import { templateData } from "../../shared/run-data.ts";
import { evaluate, render, type Condition } from "../../shared/templates.ts";

/** The topic the summarizer writes: answers go to policy before they leave. */
export const summarizerTopics = { drafts: "baton.drafts" } as const;

interface AnswerPart {
  text: string;
  when?: Condition;
}

const statusOf: Record<CompletedRun["outcome"], ResponseStatus> = {
  COMPLETED: "ANSWERED",
  REFUSED: "REFUSED",
  FAILED: "FAILED",
};

/** A rendered part as text: a missing or null value is empty, not "undefined" or "null". */
function asAnswerText(value: unknown): string {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function describeSteps(run: CompletedRun): string {
  const lines = run.steps.map(
    (step) => `- ${step.stepId} (${step.tool}): ${step.status}${step.error === null ? "" : `, ${step.error}`}`,
  );
  return lines.join("\n");
}

/**
 * The deterministic template summarizer: renders the workflow's answer parts whose conditions hold, or,
 * without a template, lists what each step did; a refused or failed run says why.
 */
export function summarize(run: CompletedRun): string | null {
  const data = templateData(run);
  const parts = run.answerTemplate === null ? [] : (JSON.parse(run.answerTemplate) as AnswerPart[]);
  const rendered = parts
    .filter((part) => part.when === undefined || evaluate(part.when, data))
    .map((part) => asAnswerText(render(part.text, data)).trim())
    .filter((text) => text.length > 0);
  if (run.outcome !== "COMPLETED") {
    const reason = run.error ?? "no reason given";
    const head =
      run.outcome === "REFUSED"
        ? `Part of this request was refused: ${reason}`
        : `This request could not be completed: ${reason}`;
    if (run.steps.length === 0) return null;
    return [...rendered, head].join("\n\n");
  }
  if (rendered.length > 0) return rendered.join("\n\n");
  return run.steps.length === 0 ? null : `Completed ${run.steps.length} steps:\n${describeSteps(run)}`;
}

/** Turns a finished run into the draft answer policy will check; `answer` replaces the template's (the LLM's). */
export function composeDraft(run: CompletedRun, now: number, answer?: string): OutgoingMessage {
  const draft: Draft = {
    requestId: run.requestId,
    tenant: run.tenant,
    status: statusOf[run.outcome],
    answer: answer ?? summarize(run),
    steps: run.steps.map((step) => ({
      stepId: step.stepId,
      tool: step.tool,
      status: step.status,
      attempts: step.attempts,
      durationMs: step.durationMs,
    })),
    error: run.error,
    completedAt: now,
  };
  return { topic: summarizerTopics.drafts, key: run.requestId, value: draft };
}

/** The draft of a run whose answer is withheld (tool output a tenant refuses): REFUSED, no answer, the reason. */
export function withheldDraft(run: CompletedRun, now: number, reason: string): OutgoingMessage {
  const draft = composeDraft(run, now);
  const value: Draft = { ...(draft.value as Draft), status: "REFUSED", answer: null, error: reason };
  return { ...draft, value };
}
