import type { Request, Response, RunState } from "../shared/schemas/records.ts";

/** A response for people: status, answer, and each step on a timeline. */
export function formatResponse(response: Response, request?: Request): string[] {
  const lines: string[] = [];
  const took = request === undefined ? "" : ` in ${response.completedAt - request.submittedAt} ms`;
  lines.push(`${response.requestId}: ${response.status}${took}`);
  if (request !== undefined) lines.push(`  asked:  ${request.input}`);
  for (const step of response.steps) {
    lines.push(
      `  step ${step.stepId.padEnd(10)} ${step.tool.padEnd(28)} ${step.status.padEnd(10)} ${String(step.durationMs).padStart(5)} ms  attempts ${step.attempts}`,
    );
  }
  if (response.answer !== null) {
    lines.push("  answer:");
    for (const line of response.answer.split("\n")) lines.push(`    ${line}`);
  }
  if (response.error !== null) lines.push(`  reason: ${response.error}`);
  return lines;
}

/** A run's state for people. */
export function formatRun(run: RunState): string[] {
  const lines = [`${run.requestId}: run ${run.status} (workflow ${run.workflow ?? "-"}, tenant ${run.tenant})`];
  for (const step of run.steps) {
    lines.push(
      `  step ${step.stepId.padEnd(10)} ${step.tool.padEnd(28)} ${step.status}${step.error === null ? "" : `: ${step.error}`}`,
    );
  }
  return lines;
}
