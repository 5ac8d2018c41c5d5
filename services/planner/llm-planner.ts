import type { LlmClient } from "../../shared/llm/llm-client.ts";
import type { Request, ToolDescription } from "../../shared/schemas/records.ts";
import { toBatonError } from "../../shared/errors.ts";
import { parseWorkflowObject, type Workflow } from "./workflow-file.ts";

/** What the LLM chose: a plan to run, or why there is none. */
export type LlmPlan = { workflow: Workflow } | { error: string };

const instructions = `You are the planner of an orchestration layer for AI tools. You never answer the user yourself:
you choose which tools to call. Reply with one JSON object and nothing else, either
{"workflow": "<name>"} to run one of the declared workflows listed below, or a plan:
{"steps": [{"id": "lowercase-id", "tool": "<server>/<tool>", "needs": ["ids of earlier steps"], "arguments": {...},
  "when": {"path": "steps.<id>.output.<field>", "equals": <value>}}],
 "answer": [{"text": "text with {{ steps.<id>.output.<field> }} references"}]}
Rules: use only tools from the catalogue, with arguments that fit their JSON Schema; "needs" orders steps, and steps
that need nothing from each other run in parallel; an argument or text may refer to {{ request.input }},
{{ request.metadata.<key> }} or to {{ steps.<id>.output.<field> }} of a step it needs; "when" is optional and
may also use "notEquals", "exists", "in", "greaterThan", "lessThan", "all", "any", "not".`;

function catalogueText(tools: readonly ToolDescription[]): string {
  return tools.map((tool) => `- ${tool.name}: ${tool.description}\n  arguments schema: ${tool.inputSchema}`).join("\n");
}

/**
 * Asks the LLM for a plan given the tool catalogue and the declared workflows. The answer is checked like a
 * workflow file (schema, step graph, known tools) before anything runs; a bad plan is an error, never a crash.
 */
export async function planWithLlm(
  request: Request,
  tools: readonly ToolDescription[],
  workflows: ReadonlyMap<string, Workflow>,
  client: LlmClient,
): Promise<LlmPlan> {
  const declared = [...workflows.values()].map((workflow) => `- ${workflow.name}: ${workflow.description}`).join("\n");
  const prompt = `Declared workflows:\n${declared}\n\nTool catalogue:\n${catalogueText(tools)}\n\nRequest metadata keys: ${
    Object.keys(request.metadata).join(", ") || "(none)"
  }\nRequest: ${request.input}`;
  let text: string;
  try {
    text = await client.complete({ system: instructions, prompt, json: true });
  } catch (error) {
    const failure = toBatonError(error);
    // A provider that is down or rate-limiting is retried through the planner's retry topics.
    if (failure.retriable) throw failure;
    return { error: `the LLM planner could not be reached: ${failure.message}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.trim().replace(/^```(?:json)?\s*|\s*```$/g, ""));
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return { error: `invalid plan from the LLM: not a JSON object: ${text.slice(0, 200)}` };
  }
  if ("workflow" in parsed) {
    const name = parsed.workflow;
    const workflow = typeof name === "string" ? workflows.get(name) : undefined;
    return workflow === undefined
      ? {
          error: `invalid plan from the LLM: unknown workflow ${typeof name === "string" ? name : JSON.stringify(name)}`,
        }
      : { workflow };
  }
  const { steps, answer } = parsed as { steps?: unknown; answer?: unknown };
  const candidate = {
    name: "llm-plan",
    description: `planned by ${client.model}`,
    steps,
    ...(answer === undefined ? {} : { answer }),
  };
  const checked = parseWorkflowObject(candidate);
  if ("problems" in checked) return { error: `invalid plan from the LLM: ${checked.problems.join("; ")}` };
  const known = new Set(tools.map((tool) => tool.name));
  const unknown = checked.workflow.steps
    .filter((step) => !known.has(step.tool))
    .map((step) => `step ${step.id} uses unknown tool ${step.tool}`);
  if (unknown.length > 0) return { error: `invalid plan from the LLM: ${unknown.join("; ")}` };
  return { workflow: checked.workflow };
}
