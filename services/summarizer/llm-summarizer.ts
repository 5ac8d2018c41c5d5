import type { OutgoingMessage } from "../../shared/kafka/producer.ts";
import type { LlmClient } from "../../shared/llm/llm-client.ts";
import { auditMessages, screenToolOutputs } from "../../shared/llm/tool-output-screen.ts";
import { fenceToolOutput, untrustedDataRule } from "../../shared/llm/untrusted.ts";
import type { ToolOutputPolicy } from "../../shared/policy-file.ts";
import type { CompletedRun } from "../../shared/schemas/records.ts";
import { composeDraft, withheldDraft } from "./summarizer.ts";

const instructions = `You write the final answer of a customer-facing assistant from the results of the tool steps
that ran for the user's request. Use only facts from the step results; say plainly what could not be done and why.
Be brief and friendly. Reply with the answer text only.
${untrustedDataRule}`;

function describeStep(step: CompletedRun["steps"][number]): string {
  const head = `- ${step.stepId} (${step.tool}): ${step.status}${step.error === null ? "" : `, error ${step.error}`}`;
  return step.output === null ? head : `${head}, output:\n${fenceToolOutput(step, step.output)}`;
}

/**
 * Composes the answer with the LLM from the request and each step's status, error and output; outputs are fenced
 * as untrusted data, so a tool's text reaches the model as data, never as instructions.
 */
export async function summarizeWithLlm(
  run: CompletedRun,
  client: LlmClient,
  onText?: (piece: string) => void,
): Promise<string> {
  const steps = run.steps.map(describeStep).join("\n");
  const prompt = `Request: ${run.input}\nOutcome: ${run.outcome}${run.error === null ? "" : ` (${run.error})`}\nSteps:\n${steps || "(none)"}`;
  if (onText !== undefined && client.stream !== undefined)
    return (await client.stream({ system: instructions, prompt }, onText)).trim();
  return (await client.complete({ system: instructions, prompt, json: false })).trim();
}

/** What {@link summarizeRunWithLlm} needs besides the run. */
export interface LlmSummaryOptions {
  client: LlmClient;
  /** The run's tenant's tool output screening. */
  toolOutput: ToolOutputPolicy;
  now: number;
  /** Told when the LLM fails; the template's answer is used instead. */
  onFailure(error: unknown): void;
  /** Told each piece of the answer as the LLM writes it (the model streams), for tenants that follow partial text. */
  onText?: (piece: string) => void;
}

/**
 * The summarizer's messages for a run whose answer an LLM writes: tool output is screened by the tenant's policy
 * first (each match audited on baton.policy-decisions; redacted, or the answer withheld, when the tenant says so),
 * then the draft.
 */
export async function summarizeRunWithLlm(run: CompletedRun, options: LlmSummaryOptions): Promise<OutgoingMessage[]> {
  const screening = screenToolOutputs(run, run.steps, options.toolOutput, "summarizer", options.now);
  const audits = auditMessages(screening.decisions);
  if (screening.refusal !== undefined) return [withheldDraft(run, options.now, screening.refusal), ...audits];
  let answer: string | undefined;
  try {
    answer = (await summarizeWithLlm({ ...run, steps: screening.steps }, options.client, options.onText)) || undefined;
  } catch (error) {
    options.onFailure(error);
  }
  return [composeDraft(run, options.now, answer), ...audits];
}
