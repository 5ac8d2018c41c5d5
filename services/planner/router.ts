import type { Workflow } from "./workflow-file.ts";

/** The rules router: picks the workflow whose keywords best match the input, when a request names none. */
export function routeByKeywords(input: string, workflows: Iterable<Workflow>): Workflow | undefined {
  const words = new Set(input.toLowerCase().match(/[a-z0-9]+/g) ?? []);
  let best: { workflow: Workflow; score: number; priority: number } | undefined;
  for (const workflow of workflows) {
    if (workflow.match === undefined) continue;
    const score = workflow.match.keywords.filter((keyword) =>
      keyword
        .toLowerCase()
        .split(/\s+/)
        .every((part) => words.has(part)),
    ).length;
    if (score === 0) continue;
    const priority = workflow.match.priority;
    if (best === undefined || score > best.score || (score === best.score && priority > best.priority)) {
      best = { workflow, score, priority };
    }
  }
  return best?.workflow;
}
