import type { LlmClient } from "../../shared/llm/llm-client.ts";
import { toolPermitted, type TenantPolicy } from "../../shared/policy-file.ts";
import type { Request, ToolDescription } from "../../shared/schemas/records.ts";
import { toBatonError } from "../../shared/errors.ts";
import { parseWorkflowObject, type Workflow } from "./workflow-file.ts";

/**
 * What the LLM chose: a plan to run, or why there is none; `refused` when the plan asked for more than the tenant's
 * rules allow (the run is then REFUSED, not FAILED).
 */
export type LlmPlan = { workflow: Workflow } | { error: string; refused?: boolean };

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

/** The catalogue as the LLM sees it: each tool's name, description and argument schema. */
export function catalogueText(tools: readonly ToolDescription[]): string {
  return tools.map((tool) => `- ${tool.name}: ${tool.description}\n  arguments schema: ${tool.inputSchema}`).join("\n");
}

/** The tools a tenant may call: only these are offered to the LLM. */
export function toolsFor(tenant: TenantPolicy, tools: readonly ToolDescription[]): ToolDescription[] {
  return tools.filter((tool) => toolPermitted(tenant, tool.name));
}

/**
 * Why steps of a plan ask for more than the tenant allows (a catalogued tool it may not call) or than the whole
 * catalogue has (a tool no executor offers); both empty when they do not.
 */
export function toolProblems(
  steps: ReadonlyArray<{ id: string; tool: string }>,
  tenantName: string,
  tenant: TenantPolicy,
  catalogue: readonly ToolDescription[],
): { refused: string[]; unknown: string[] } {
  const known = new Set(catalogue.map((tool) => tool.name));
  const refused = steps
    .filter((step) => known.has(step.tool) && !toolPermitted(tenant, step.tool))
    .map((step) => `step ${step.id} uses ${step.tool}, which tenant ${tenantName} may not call`);
  const unknown = steps
    .filter((step) => !known.has(step.tool))
    .map((step) => `step ${step.id} uses unknown tool ${step.tool}`);
  return { refused, unknown };
}

/** The JSON object an LLM replied with (a ```json fence around it is accepted), or undefined when it is not one. */
export function parseLlmObject(text: string): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.trim().replace(/^```(?:json)?\s*|\s*```$/g, ""));
  } catch {
    return undefined;
  }
  return parsed === null || typeof parsed !== "object" || Array.isArray(parsed)
    ? undefined
    : (parsed as Record<string, unknown>);
}

/**
 * Asks the LLM for a plan given the tool catalogue and the declared workflows, offering only what the tenant may
 * call. The answer is checked like a workflow file (schema, step graph, known tools) before anything runs; a bad
 * plan is an error, never a crash, and a plan reaching past the tenant's tool rules is refused.
 */
export async function planWithLlm(
  request: Request,
  catalogue: readonly ToolDescription[],
  workflows: ReadonlyMap<string, Workflow>,
  client: LlmClient,
  tenant: TenantPolicy,
): Promise<LlmPlan> {
  const tools = toolsFor(tenant, catalogue);
  const offered = [...workflows.values()].filter((workflow) =>
    workflow.steps.every((step) => toolPermitted(tenant, step.tool)),
  );
  const declared = offered.map((workflow) => `- ${workflow.name}: ${workflow.description}`).join("\n");
  const prompt = `Declared workflows:\n${declared || "(none)"}\n\nTool catalogue:\n${catalogueText(tools)}\n\nRequest metadata keys: ${
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
  const parsed = parseLlmObject(text);
  if (parsed === undefined) {
    return { error: `invalid plan from the LLM: not a JSON object: ${text.slice(0, 200)}` };
  }
  if ("workflow" in parsed) {
    const name = parsed.workflow;
    const workflow = typeof name === "string" ? workflows.get(name) : undefined;
    if (workflow === undefined) {
      return {
        error: `invalid plan from the LLM: unknown workflow ${typeof name === "string" ? name : JSON.stringify(name)}`,
      };
    }
    if (!offered.includes(workflow)) {
      return {
        error: `plan refused: workflow ${workflow.name} uses tools tenant ${request.tenant} may not call`,
        refused: true,
      };
    }
    return { workflow };
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
  const { refused, unknown } = toolProblems(checked.workflow.steps, request.tenant, tenant, catalogue);
  if (refused.length > 0) return { error: `plan refused: ${refused.join("; ")}`, refused: true };
  if (unknown.length > 0) return { error: `invalid plan from the LLM: ${unknown.join("; ")}` };
  return { workflow: checked.workflow };
}
