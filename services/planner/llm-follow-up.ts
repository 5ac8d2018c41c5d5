import { toBatonError } from "../../shared/errors.ts";
import type { LlmClient } from "../../shared/llm/llm-client.ts";
import { auditMessages, screenToolOutputs } from "../../shared/llm/tool-output-screen.ts";
import { fenceToolOutput, untrustedDataRule } from "../../shared/llm/untrusted.ts";
import type { TenantPolicy } from "../../shared/policy-file.ts";
import type {
  CompletedRun,
  PolicyDecision,
  RunState,
  StepState,
  ToolDescription,
} from "../../shared/schemas/records.ts";
import { catalogueText, parseLlmObject, toolProblems, toolsFor } from "./llm-planner.ts";
import { advance, pendingStep, plannerTopics, type PlannerContext, type PlannerOutcome } from "./planner.ts";
import { parseWorkflowObject, type AnswerPart, type WorkflowStep } from "./workflow-file.ts";

const instructions = `You are the planner of an orchestration layer for AI tools. The tool steps below already ran for
the user's request. Decide whether more tool steps are needed to fulfil the request. Reply with one JSON object and
nothing else: {"steps": []} when nothing more is needed, or
{"steps": [{"id": "new-lowercase-id", "tool": "<server>/<tool>", "needs": ["ids of steps"], "arguments": {...}}],
 "answer": [{"text": "text with {{ steps.<id>.output.<field> }} references"}]}
Rules: use only tools from the catalogue, with arguments that fit their JSON Schema; new step ids differ from the
steps that ran; "needs" may name steps that ran or new ones; an argument may refer to
{{ steps.<id>.output.<field> }} of a step it needs; "answer" is optional and replaces the answer template.
Plan only what the user's request asks for.
${untrustedDataRule}`;

/** How many follow-up rounds an LLM-planned run had: 0 for a fresh LLM plan, undefined for any other run. */
export function followUpRound(workflow: string | null): number | undefined {
  if (workflow === "llm-plan") return 0;
  const match = /^llm-plan-follow-up-(\d+)$/.exec(workflow ?? "");
  return match === null ? undefined : Number(match[1]);
}

/** Whether a run that just completed may ask the LLM for more steps: LLM-planned, rounds left, every step fine. */
export function mayFollowUp(run: RunState, maxRounds: number): boolean {
  const round = followUpRound(run.workflow);
  return (
    run.status === "COMPLETED" &&
    round !== undefined &&
    round < maxRounds &&
    run.steps.every((step) => step.status === "SUCCEEDED" || step.status === "SKIPPED")
  );
}

/** What the LLM made of the steps' results; `decisions` are the tool output screening's audit records. */
export type FollowUp = { decisions: PolicyDecision[] } & (
  | { kind: "done" }
  | { kind: "steps"; steps: WorkflowStep[]; answer: AnswerPart[] | undefined }
  | { kind: "refused"; reason: string }
  | { kind: "invalid"; error: string }
);

function asWorkflowStep(step: StepState): WorkflowStep {
  return {
    id: step.stepId,
    tool: step.tool,
    needs: step.needs,
    arguments: JSON.parse(step.argumentsTemplate) as Record<string, unknown>,
    timeoutMs: step.timeoutMs,
    ...(step.condition === null ? {} : { when: JSON.parse(step.condition) as WorkflowStep["when"] }),
  };
}

function describeStep(step: StepState): string {
  const head = `- ${step.stepId} (${step.tool}): ${step.status}${step.error === null ? "" : `, error ${step.error}`}`;
  return step.output === null ? head : `${head}, output:\n${fenceToolOutput(step, step.output)}`;
}

/**
 * Asks the LLM whether a completed LLM-planned run needs more steps, from the steps' outputs. The outputs are
 * screened by the tenant's toolOutput policy first (a refusal ends it before the LLM is asked) and fenced as
 * untrusted data; only tools the tenant may call are offered, and a plan naming any other is refused.
 */
export async function followUpWithLlm(
  run: RunState,
  catalogue: readonly ToolDescription[],
  client: LlmClient,
  tenant: TenantPolicy,
  now: number,
): Promise<FollowUp> {
  const screening = screenToolOutputs(run, run.steps, tenant.toolOutput, "planner", now);
  const decisions = screening.decisions;
  if (screening.refusal !== undefined) return { kind: "refused", reason: screening.refusal, decisions };
  const tools = toolsFor(tenant, catalogue);
  const prompt = `Tool catalogue:\n${catalogueText(tools)}\n\nRequest metadata keys: ${
    Object.keys(run.metadata).join(", ") || "(none)"
  }\nRequest: ${run.input}\n\nSteps that ran:\n${screening.steps.map(describeStep).join("\n")}`;
  let text: string;
  try {
    text = await client.complete({ system: instructions, prompt, json: true });
  } catch (error) {
    const failure = toBatonError(error);
    if (failure.retriable) throw failure;
    return { kind: "invalid", error: `the LLM planner could not be reached: ${failure.message}`, decisions };
  }
  const parsed = parseLlmObject(text);
  if (parsed === undefined || !Array.isArray(parsed.steps)) {
    return {
      kind: "invalid",
      error: `follow-up from the LLM is not {"steps": [...]}: ${text.slice(0, 200)}`,
      decisions,
    };
  }
  if (parsed.steps.length === 0) return { kind: "done", decisions };
  const existing = run.steps.map(asWorkflowStep);
  const checked = parseWorkflowObject({
    name: "llm-plan",
    steps: [...existing, ...(parsed.steps as unknown[])],
    ...(parsed.answer === undefined ? {} : { answer: parsed.answer }),
  });
  if ("problems" in checked)
    return { kind: "invalid", error: `invalid follow-up plan: ${checked.problems.join("; ")}`, decisions };
  const steps = checked.workflow.steps.slice(existing.length);
  const { refused, unknown } = toolProblems(steps, run.tenant, tenant, catalogue);
  if (refused.length > 0)
    return { kind: "refused", reason: `follow-up plan refused: ${refused.join("; ")}`, decisions };
  if (unknown.length > 0) return { kind: "invalid", error: `invalid follow-up plan: ${unknown.join("; ")}`, decisions };
  return {
    kind: "steps",
    steps,
    answer: parsed.answer === undefined ? undefined : checked.workflow.answer,
    decisions,
  };
}

/**
 * Applies a follow-up to the outcome that completed the run: new steps reopen it and dispatch what can start, a
 * refusal completes it REFUSED with the reason and no answer template (nothing of the outputs is rendered), and
 * otherwise it completes as it was. The screening's audit records go out with it.
 */
export function applyFollowUp(completed: PlannerOutcome, followUp: FollowUp, context: PlannerContext): PlannerOutcome {
  const audits = auditMessages(followUp.decisions);
  const run = completed.run;
  if (run === undefined) return completed;
  if (followUp.kind === "steps") {
    const round = (followUpRound(run.workflow) ?? 0) + 1;
    const added = followUp.steps.map(pendingStep);
    const reopened: RunState = {
      ...run,
      workflow: `llm-plan-follow-up-${round}`,
      status: "RUNNING",
      steps: [...run.steps, ...added],
      answerTemplate: followUp.answer === undefined ? run.answerTemplate : JSON.stringify(followUp.answer),
    };
    const outcome = advance(reopened, context);
    return { run: outcome.run, messages: [...outcome.messages, ...audits] };
  }
  if (followUp.kind === "refused") {
    const messages = completed.messages.map((message) =>
      message.topic === plannerTopics.completedRuns
        ? {
            ...message,
            value: {
              ...(message.value as CompletedRun),
              outcome: "REFUSED",
              error: followUp.reason,
              answerTemplate: null,
            } satisfies CompletedRun,
          }
        : message,
    );
    return { run, messages: [...messages, ...audits] };
  }
  return { run, messages: [...completed.messages, ...audits] };
}
