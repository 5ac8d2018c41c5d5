import { readFile } from "node:fs/promises";
import { describe, it, expect } from "vitest";
import { BatonError } from "../../shared/errors.ts";
import type { LlmClient } from "../../shared/llm/llm-client.ts";
import { fromRoot } from "../../shared/paths.ts";
import { parsePolicy, type TenantPolicy } from "../../shared/policy-file.ts";
import type { CompletedRun, Request, RunState, ToolCall, ToolDescription } from "../../shared/schemas/records.ts";
import { ArgumentValidator } from "./argument-validator.ts";
import { planWithLlm, type LlmPlan } from "./llm-planner.ts";
import { startRun, type PlannerContext, type PlannerOutcome } from "./planner.ts";
import { parseWorkflow, type Workflow } from "./workflow-file.ts";

const now = 1_750_000_000_000;

const schemas: Record<string, object> = {
  "calc/double": {
    type: "object",
    properties: { x: { type: "number" } },
    required: ["x"],
    additionalProperties: false,
  },
  "calc/add": {
    type: "object",
    properties: { a: { type: "number" }, b: { type: "number" } },
    required: ["a", "b"],
    additionalProperties: false,
  },
  "knowledge-base/search": {
    type: "object",
    properties: { query: { type: "string", minLength: 1 }, limit: { type: "integer", minimum: 1, maximum: 10 } },
    required: ["query"],
  },
  "ticketing/create_ticket": {
    type: "object",
    properties: {
      subject: { type: "string", minLength: 1 },
      body: { type: "string", minLength: 1 },
      priority: { enum: ["low", "normal", "high"] },
      customer: { type: "string", minLength: 1 },
    },
    required: ["subject", "body"],
  },
  "outbox/send_email": {
    type: "object",
    properties: { to: { type: "string", minLength: 3 }, subject: { type: "string" }, body: { type: "string" } },
    required: ["to", "subject", "body"],
  },
};

const tools: ToolDescription[] = Object.entries(schemas).map(([name, schema]) => ({
  name,
  description: `the ${name} tool`,
  inputSchema: JSON.stringify(schema),
}));

const customerSupport = parseWorkflow(
  await readFile(fromRoot("workflows", "customer-support.yaml"), "utf8"),
  "customer-support.yaml",
);

const doubling = parseWorkflow(
  `
name: doubling
description: Doubles a number.
match: { keywords: [double] }
steps:
  - { id: twice, tool: calc/double, arguments: { x: 2 } }
`,
  "doubling.yaml",
);

const workflows: ReadonlyMap<string, Workflow> = new Map([
  [customerSupport.name, customerSupport],
  [doubling.name, doubling],
]);

/** Two independent doublings, then a sum needing both. */
const fanInPlan = {
  steps: [
    { id: "left", tool: "calc/double", arguments: { x: 1 } },
    { id: "right", tool: "calc/double", arguments: { x: 2 } },
    {
      id: "sum",
      tool: "calc/add",
      needs: ["left", "right"],
      arguments: { a: "{{ steps.left.output.value }}", b: "{{ steps.right.output.value }}" },
    },
  ],
  answer: [{ text: "The sum is {{ steps.sum.output.value }}" }],
};

type Exchange = Parameters<LlmClient["complete"]>[0];

/** An LlmClient that answers every call with the given text (or fails with the given error) and keeps each call. */
function fakeLlm(reply: string | Error): { client: LlmClient; calls: Exchange[] } {
  const calls: Exchange[] = [];
  const client: LlmClient = {
    model: "fake-model",
    complete(exchange) {
      calls.push(exchange);
      return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply);
    },
  };
  return { client, calls };
}

function request(fields: Partial<Request> = {}): Request {
  return {
    requestId: "req-1",
    tenant: "demo",
    input: "my order arrived damaged",
    workflow: null,
    metadata: {},
    submittedAt: now - 10,
    ...fields,
  };
}

const tenants = parsePolicy(
  `
tenants:
  demo:
    tools: { allow: ["*/*"] }
  trial:
    tools:
      allow: ["knowledge-base/*", "ticketing/*", "calc/*"]
      deny: ["ticketing/issue_refund"]
`,
  "tenants.yaml",
).tenants;
const everything = tenants.demo as TenantPolicy;
const trial = tenants.trial as TenantPolicy;

async function plan(reply: string | Error, fields: Partial<Request> = {}, tenant = everything): Promise<LlmPlan> {
  return planWithLlm(request(fields), tools, workflows, fakeLlm(reply).client, tenant);
}

function workflowOf(result: LlmPlan): Workflow {
  if ("error" in result) throw new Error(`expected a workflow, got the error: ${result.error}`);
  return result.workflow;
}

function errorOf(result: LlmPlan): string {
  if ("workflow" in result) throw new Error(`expected an error, got the workflow ${result.workflow.name}`);
  return result.error;
}

describe("planWithLlm", () => {
  it("a JSON plan with two independent steps and a third needing both becomes the workflow llm-plan", async () => {
    const workflow = workflowOf(await plan(JSON.stringify(fanInPlan)));
    expect(workflow.name).toBe("llm-plan");
    expect(workflow.description).toBe("planned by fake-model");
    expect(workflow.steps.map((step) => [step.id, step.tool, step.needs, step.arguments])).toEqual([
      ["left", "calc/double", [], { x: 1 }],
      ["right", "calc/double", [], { x: 2 }],
      [
        "sum",
        "calc/add",
        ["left", "right"],
        { a: "{{ steps.left.output.value }}", b: "{{ steps.right.output.value }}" },
      ],
    ]);
    expect(workflow.answer).toEqual([{ text: "The sum is {{ steps.sum.output.value }}" }]);
  });

  it('{"workflow": name} picks that declared workflow as it is', async () => {
    expect(workflowOf(await plan('{"workflow":"customer-support"}'))).toBe(customerSupport);
    expect(workflowOf(await plan('{"workflow":"doubling"}'))).toBe(doubling);
  });

  it("a plan fenced in ```json ... ``` is accepted", async () => {
    const fenced = "```json\n" + JSON.stringify(fanInPlan, null, 2) + "\n```\n";
    expect(workflowOf(await plan(fenced)).steps.map((step) => step.id)).toEqual(["left", "right", "sum"]);
    expect(workflowOf(await plan('```\n{"workflow":"doubling"}\n```'))).toBe(doubling);
  });

  it("an unknown workflow name is an invalid plan naming the workflow", async () => {
    expect(errorOf(await plan('{"workflow":"teleport"}'))).toBe("invalid plan from the LLM: unknown workflow teleport");
  });

  it("text that is not JSON is an invalid plan quoting the text", async () => {
    const error = errorOf(await plan("You should search the knowledge base first."));
    expect(error).toMatch(/^invalid plan from the LLM: not a JSON object: /);
    expect(error).toContain("You should search the knowledge base first.");
  });

  it("a tool missing from the catalogue is unknown (FAILED), not refused, even for a tenant that may not call it", async () => {
    const reply = JSON.stringify({ steps: [{ id: "launch", tool: "rockets/launch", arguments: {} }] });
    expect(await plan(reply, { tenant: "trial" }, trial)).toEqual({
      error: "invalid plan from the LLM: step launch uses unknown tool rockets/launch",
    });
  });

  it("a plan using a tool missing from the catalogue is invalid, naming the step and the tool", async () => {
    const reply = JSON.stringify({
      steps: [
        { id: "search", tool: "knowledge-base/search", arguments: { query: "x" } },
        { id: "launch", tool: "rockets/launch", needs: ["search"] },
      ],
    });
    expect(errorOf(await plan(reply))).toBe("invalid plan from the LLM: step launch uses unknown tool rockets/launch");
  });

  it("a plan whose steps need each other in a cycle is invalid, naming the cycle", async () => {
    const reply = JSON.stringify({
      steps: [
        { id: "left", tool: "calc/double", needs: ["right"], arguments: { x: 1 } },
        { id: "right", tool: "calc/double", needs: ["left"], arguments: { x: 2 } },
      ],
    });
    const error = errorOf(await plan(reply));
    expect(error).toMatch(/^invalid plan from the LLM: /);
    expect(error).toContain("steps form a cycle: left -> right -> left");
  });

  it("a plan with a step missing its tool is invalid, naming the step's field", async () => {
    const reply = JSON.stringify({ steps: [{ id: "left", arguments: { x: 1 } }] });
    const error = errorOf(await plan(reply));
    expect(error).toMatch(/^invalid plan from the LLM: /);
    expect(error).toContain("steps.0.tool");
  });

  it("a plan with no steps is invalid", async () => {
    const error = errorOf(await plan('{"steps": []}'));
    expect(error).toMatch(/^invalid plan from the LLM: /);
    expect(error).toContain("steps");
  });

  it("an LLM call refused for good gives an error saying the planner could not be reached, with the cause", async () => {
    const cause = new BatonError("INVALID_INPUT", "openai call failed: 400 model not found", { retriable: false });
    expect(errorOf(await plan(cause))).toBe(
      "the LLM planner could not be reached: openai call failed: 400 model not found",
    );
  });

  it("an LLM call that may pass later is thrown as retriable, so the stage runner retries the request", async () => {
    const cause = new BatonError("TIMEOUT", "openai call failed: Request timed out.", { retriable: true });
    await expect(plan(cause)).rejects.toMatchObject({ code: "TIMEOUT", retriable: true });
  });

  it("the prompt lists each tool with its schema, the declared workflows and the request, and asks for JSON", async () => {
    const { client, calls } = fakeLlm('{"workflow":"doubling"}');
    await planWithLlm(
      request({ input: "Please double 21", metadata: { customerEmail: "ana@example.com" } }),
      tools,
      workflows,
      client,
      everything,
    );
    expect(calls).toHaveLength(1);
    const [exchange] = calls;
    expect(exchange?.json).toBe(true);
    expect(exchange?.system).toContain("JSON");
    for (const tool of tools) {
      expect(exchange?.prompt).toContain(`${tool.name}: ${tool.description}`);
      expect(exchange?.prompt).toContain(tool.inputSchema);
    }
    expect(exchange?.prompt).toContain(`customer-support: ${customerSupport.description}`);
    expect(exchange?.prompt).toContain("doubling: Doubles a number.");
    expect(exchange?.prompt).toContain("Please double 21");
    expect(exchange?.prompt).toContain("customerEmail");
  });

  // Known bug: llm-planner.ts spreads the LLM's object after `name`, so a plan can call itself a declared workflow
  // and its run is recorded under that name. Turn into `it` once the name is set after the spread.
  it("a plan is named llm-plan even when the LLM gives it a declared workflow's name", async () => {
    const reply = JSON.stringify({ name: "customer-support", ...fanInPlan });
    expect(workflowOf(await plan(reply)).name).toBe("llm-plan");
  });

  // Known bug: a JSON value that is not an object (a string, an array) is spread into the workflow, so a string
  // is reported as unrecognized keys "0", "1", ... Turn into `it` once llm-planner.ts checks for a plain object.
  it("a JSON answer that is not an object is an invalid plan saying so", async () => {
    expect(errorOf(await plan('"search the knowledge base"'))).toMatch(/^invalid plan from the LLM: not a JSON object/);
  });
});

describe("planWithLlm within the tenant's tool rules", () => {
  it("offers the LLM only the tools and declared workflows the tenant may call", async () => {
    const { client, calls } = fakeLlm('{"workflow":"doubling"}');
    await planWithLlm(request({ tenant: "trial" }), tools, workflows, client, trial);
    const prompt = calls[0]?.prompt ?? "";
    expect(prompt).toContain("knowledge-base/search:");
    expect(prompt).toContain("ticketing/create_ticket:");
    expect(prompt).toContain("calc/double:");
    expect(prompt).not.toContain("outbox/send_email");
    expect(prompt).toContain("doubling: Doubles a number.");
    expect(prompt).not.toContain("customer-support:");
  });

  it("a plan naming a tool outside the tenant's allow list is refused, naming the step, tool and tenant", async () => {
    const reply = JSON.stringify({
      steps: [
        { id: "search", tool: "knowledge-base/search", arguments: { query: "x" } },
        { id: "mail", tool: "outbox/send_email", arguments: { to: "a@b.c", subject: "s", body: "b" } },
      ],
    });
    const result = await plan(reply, { tenant: "trial" }, trial);
    expect(result).toEqual({
      error: "plan refused: step mail uses outbox/send_email, which tenant trial may not call",
      refused: true,
    });
  });

  it("a plan naming a tool on the tenant's deny list is refused even though its server is allowed", async () => {
    const reply = JSON.stringify({ steps: [{ id: "refund", tool: "ticketing/issue_refund", arguments: {} }] });
    const refund = { name: "ticketing/issue_refund", description: "refunds", inputSchema: '{"type":"object"}' };
    const result = await planWithLlm(
      request({ tenant: "trial" }),
      [...tools, refund],
      workflows,
      fakeLlm(reply).client,
      trial,
    );
    expect(errorOf(result)).toBe(
      "plan refused: step refund uses ticketing/issue_refund, which tenant trial may not call",
    );
  });

  it("a declared workflow using a tool the tenant may not call is refused when the LLM picks it", async () => {
    expect(await plan('{"workflow":"customer-support"}', { tenant: "trial" }, trial)).toEqual({
      error: "plan refused: workflow customer-support uses tools tenant trial may not call",
      refused: true,
    });
  });

  it("a refused plan completes the run REFUSED with no tool call", async () => {
    const llmPlan = await plan(
      JSON.stringify({ steps: [{ id: "mail", tool: "outbox/send_email", arguments: {} }] }),
      { tenant: "trial" },
      trial,
    );
    const outcome = startRun(
      request({ tenant: "trial" }),
      undefined,
      { ...planner, tenants: new Set(["trial"]) },
      llmPlan,
    );
    expect(toolCalls(outcome)).toEqual([]);
    expect(completed(outcome)).toMatchObject({
      outcome: "REFUSED",
      error: "plan refused: step mail uses outbox/send_email, which tenant trial may not call",
    });
  });
});

function tool(name: string): ToolDescription | undefined {
  return tools.find((candidate) => candidate.name === name);
}

const planner: PlannerContext = {
  workflows,
  tenants: new Set(["demo"]),
  tool,
  validator: new ArgumentValidator(),
  defaultDeadlineMs: 60_000,
  now: () => now,
};

function toolCalls(outcome: PlannerOutcome): ToolCall[] {
  return outcome.messages
    .filter((message) => message.topic === "baton.tool-calls")
    .map((message) => message.value as ToolCall);
}

function completed(outcome: PlannerOutcome): CompletedRun | undefined {
  const messages = outcome.messages.filter((message) => message.topic === "baton.completed-runs");
  expect(messages.length).toBeLessThanOrEqual(1);
  return messages[0]?.value as CompletedRun | undefined;
}

function runOf(outcome: PlannerOutcome): RunState {
  if (outcome.run === undefined) throw new Error("the outcome records no run");
  return outcome.run;
}

describe("startRun with an LLM plan", () => {
  it("an LLM plan error on a request naming no workflow completes the run FAILED with that error and no tool call", () => {
    const error = "invalid plan from the LLM: unknown workflow teleport";
    const outcome = startRun(request(), undefined, planner, { error });
    expect(outcome.run).toMatchObject({ requestId: "req-1", status: "COMPLETED", steps: [] });
    expect(toolCalls(outcome)).toEqual([]);
    expect(outcome.messages.map((message) => [message.topic, message.key])).toEqual([
      ["baton.runs", "req-1"],
      ["baton.completed-runs", "req-1"],
    ]);
    expect(completed(outcome)).toMatchObject({
      requestId: "req-1",
      outcome: "FAILED",
      error,
      steps: [],
      completedAt: now,
    });
  });

  it("an LLM plan dispatches its independent first steps together and holds back the step needing both", async () => {
    const llmPlan = await plan(JSON.stringify(fanInPlan));
    const outcome = startRun(request(), undefined, planner, llmPlan);
    expect(toolCalls(outcome).map((call) => [call.stepId, call.tool, JSON.parse(call.arguments) as unknown])).toEqual([
      ["left", "calc/double", { x: 1 }],
      ["right", "calc/double", { x: 2 }],
    ]);
    const run = runOf(outcome);
    expect(run).toMatchObject({ workflow: "llm-plan", status: "RUNNING" });
    expect(run.steps.map((step) => [step.stepId, step.status, step.needs])).toEqual([
      ["left", "DISPATCHED", []],
      ["right", "DISPATCHED", []],
      ["sum", "PENDING", ["left", "right"]],
    ]);
    expect(JSON.parse(run.answerTemplate ?? "null")).toEqual(fanInPlan.answer);
  });

  it("the LLM's choice of a declared workflow wins over the keyword router's", async () => {
    const llmPlan = await plan('{"workflow":"doubling"}');
    const outcome = startRun(request({ input: "my order arrived damaged" }), undefined, planner, llmPlan);
    expect(runOf(outcome).workflow).toBe("doubling");
    expect(toolCalls(outcome).map((call) => call.tool)).toEqual(["calc/double"]);
  });

  it("a request that names a workflow runs it and ignores the LLM plan", () => {
    const named = request({ workflow: "customer-support" });
    const afterError = startRun(named, undefined, planner, { error: "invalid plan from the LLM: nonsense" });
    expect(runOf(afterError).workflow).toBe("customer-support");
    expect(toolCalls(afterError).map((call) => call.stepId)).toEqual(["search"]);
    expect(completed(afterError)).toBeUndefined();

    const afterPlan = startRun(named, undefined, planner, { workflow: doubling });
    expect(runOf(afterPlan).workflow).toBe("customer-support");
    expect(toolCalls(afterPlan).map((call) => call.stepId)).toEqual(["search"]);
  });

  it("an unknown tenant is refused even when the LLM made a plan", () => {
    const outcome = startRun(request({ tenant: "mallory" }), undefined, planner, { workflow: doubling });
    expect(toolCalls(outcome)).toEqual([]);
    expect(completed(outcome)).toMatchObject({ outcome: "REFUSED", error: "unknown tenant mallory" });
  });

  it("an LLM step whose arguments break the tool's schema fails without being called", async () => {
    const llmPlan = await plan(
      JSON.stringify({
        steps: [
          { id: "left", tool: "calc/double", arguments: { x: "one" } },
          { id: "right", tool: "calc/double", arguments: { x: 2 } },
        ],
      }),
    );
    const outcome = startRun(request(), undefined, planner, llmPlan);
    expect(toolCalls(outcome).map((call) => call.stepId)).toEqual(["right"]);
    const left = runOf(outcome).steps.find((step) => step.stepId === "left");
    expect(left?.status).toBe("FAILED");
    expect(left?.error).toMatch(/^invalid arguments for calc\/double: /);
  });
});
