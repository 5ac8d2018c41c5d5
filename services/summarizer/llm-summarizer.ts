import type { LlmClient } from "../../shared/llm/llm-client.ts";
import type { CompletedRun } from "../../shared/schemas/records.ts";

const instructions = `You write the final answer of a customer-facing assistant from the results of the tool steps
that ran for the user's request. Use only facts from the step results; say plainly what could not be done and why.
Be brief and friendly. Reply with the answer text only.`;

/** Composes the answer with the LLM from the request and each step's status, output and error. */
export async function summarizeWithLlm(run: CompletedRun, client: LlmClient): Promise<string> {
  const steps = run.steps
    .map(
      (step) =>
        `- ${step.stepId} (${step.tool}): ${step.status}${step.output === null ? "" : `, output ${step.output}`}${step.error === null ? "" : `, error ${step.error}`}`,
    )
    .join("\n");
  const prompt = `Request: ${run.input}\nOutcome: ${run.outcome}${run.error === null ? "" : ` (${run.error})`}\nSteps:\n${steps || "(none)"}`;
  return (await client.complete({ system: instructions, prompt, json: false })).trim();
}
