import { readFile } from "node:fs/promises";
import { describe, it, expect } from "vitest";
import { BatonError } from "../../shared/errors.ts";
import { fromRoot } from "../../shared/paths.ts";
import type {
  CompletedRun,
  Request,
  RunState,
  ToolCall,
  ToolDescription,
  ToolResult,
  ToolResultStatus,
} from "../../shared/schemas/records.ts";
import { ArgumentValidator } from "./argument-validator.ts";
import {
  expireRun,
  recordResult,
  refuseWriter,
  startRun,
  type PlannerContext,
  type PlannerOutcome,
} from "./planner.ts";
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
  "ticketing/issue_refund": {
    type: "object",
    properties: { orderId: { type: "string", minLength: 1 }, amount: { type: "number", exclusiveMinimum: 0 } },
    required: ["orderId", "amount"],
  },
  "outbox/send_email": {
    type: "object",
    properties: { to: { type: "string", minLength: 3 }, subject: { type: "string" }, body: { type: "string" } },
    required: ["to", "subject", "body"],
  },
};

function tool(name: string): ToolDescription | undefined {
  const schema = schemas[name];
  return schema === undefined
    ? undefined
    : { name, description: `test tool ${name}`, inputSchema: JSON.stringify(schema) };
}

const fanIn = parseWorkflow(
  `
name: fan-in
match: { keywords: [double] }
steps:
  - { id: left, tool: calc/double, arguments: { x: 1 }, timeoutMs: 5000 }
  - { id: right, tool: calc/double, arguments: { x: "{{ request.metadata.x | number }}" } }
  - id: sum
    tool: calc/add
    needs: [left, right]
    arguments: { a: "{{ steps.left.output.value }}", b: "{{ steps.right.output.value }}" }
answer:
  - text: "The sum is {{ steps.sum.output.value }}"
`,
  "fan-in.yaml",
);

const escalate = parseWorkflow(
  `
name: escalate
steps:
  - { id: search, tool: knowledge-base/search, arguments: { query: "{{ request.input }}", limit: 3 } }
  - id: ticket
    tool: ticketing/create_ticket
    needs: [search]
    when: { path: steps.search.output.found, equals: false }
    arguments: { subject: "Request {{ request.requestId }}", body: "{{ request.input }}", priority: high }
  - id: notify
    tool: outbox/send_email
    needs: [ticket]
    arguments:
      to: "{{ request.metadata.customerEmail }}"
      subject: "Ticket {{ steps.ticket.output.ticketId }}"
      body: "We opened ticket {{ steps.ticket.output.ticketId }}."
`,
  "escalate.yaml",
);

const unknownTool = parseWorkflow(
  `
name: unknown-tool
steps:
  - { id: search, tool: knowledge-base/search, arguments: { query: x } }
  - { id: launch, tool: rockets/launch, needs: [search] }
`,
  "unknown-tool.yaml",
);

function context(workflows: Workflow[], overrides: Partial<PlannerContext> = {}): PlannerContext {
  return {
    workflows: new Map(workflows.map((workflow) => [workflow.name, workflow])),
    tenants: new Set(["demo"]),
    tool,
    validator: new ArgumentValidator(),
    defaultDeadlineMs: 60_000,
    now: () => now,
    ...overrides,
  };
}

const planner = context([fanIn, escalate, unknownTool]);

function request(fields: Partial<Request> = {}): Request {
  return {
    requestId: "req-1",
    tenant: "demo",
    input: "double it",
    workflow: null,
    metadata: {},
    submittedAt: now - 10,
    ...fields,
  };
}

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

function step(run: RunState, stepId: string) {
  const found = run.steps.find((candidate) => candidate.stepId === stepId);
  if (found === undefined) throw new Error(`run has no step ${stepId}`);
  return found;
}

function result(
  run: RunState,
  stepId: string,
  status: ToolResultStatus,
  body: { output?: unknown; error?: string } = {},
): ToolResult {
  return {
    requestId: run.requestId,
    stepId,
    tool: step(run, stepId).tool,
    status,
    output: body.output === undefined ? null : JSON.stringify(body.output),
    error: body.error ?? null,
    attempts: 1,
    durationMs: 42,
    completedAt: now,
    fallbackTool: null,
  };
}

/** Feeds results one after another, each to the run state the previous outcome recorded. */
function feed(start: PlannerOutcome, ...results: Array<(run: RunState) => ToolResult>): PlannerOutcome {
  let outcome = start;
  for (const make of results) outcome = recordResult(make(runOf(outcome)), runOf(outcome), planner);
  return outcome;
}

describe("startRun", () => {
  it("dispatches steps with no dependency between them together, and holds back the step needing both", () => {
    const outcome = startRun(request({ workflow: "fan-in", metadata: { x: "5" } }), undefined, planner);
    expect(toolCalls(outcome).map((call) => call.stepId)).toEqual(["left", "right"]);
    const run = runOf(outcome);
    expect(run.status).toBe("RUNNING");
    expect(step(run, "sum").status).toBe("PENDING");
    expect(completed(outcome)).toBeUndefined();
  });

  it("every dispatched call carries the idempotency key <requestId>/<stepId>, attempt 1 and its step's timeout", () => {
    const calls = toolCalls(startRun(request({ workflow: "fan-in", metadata: { x: "5" } }), undefined, planner));
    expect(calls.map((call) => [call.idempotencyKey, call.attempt, call.timeoutMs])).toEqual([
      ["req-1/left", 1, 5000],
      ["req-1/right", 1, 30_000],
    ]);
    for (const call of calls) {
      expect(call).toMatchObject({ requestId: "req-1", tenant: "demo", dispatchedAt: now });
    }
  });

  it("renders arguments from the request, turning `| number` metadata into a number", () => {
    const calls = toolCalls(startRun(request({ workflow: "fan-in", metadata: { x: "5" } }), undefined, planner));
    expect(calls.map((call) => JSON.parse(call.arguments) as unknown)).toEqual([{ x: 1 }, { x: 5 }]);
  });

  it("tool calls are keyed by requestId and the run state goes to baton.runs keyed by requestId", () => {
    const outcome = startRun(request({ workflow: "fan-in", metadata: { x: "5" } }), undefined, planner);
    expect(outcome.messages.map((message) => [message.topic, message.key])).toEqual([
      ["baton.tool-calls", "req-1"],
      ["baton.tool-calls", "req-1"],
      ["baton.runs", "req-1"],
    ]);
    expect(outcome.messages.at(-1)?.value).toEqual(outcome.run);
  });

  it("picks the workflow by keywords when the request names none", () => {
    const outcome = startRun(request({ input: "please DOUBLE this", metadata: { x: "2" } }), undefined, planner);
    expect(runOf(outcome).workflow).toBe("fan-in");
    expect(toolCalls(outcome)).toHaveLength(2);
  });

  it("a duplicate request for a run that already exists produces nothing", () => {
    const first = startRun(request({ workflow: "fan-in", metadata: { x: "5" } }), undefined, planner);
    const again = startRun(request({ workflow: "fan-in", metadata: { x: "5" } }), runOf(first), planner);
    expect(again).toEqual({ run: undefined, messages: [] });
  });

  it("an unknown tenant is refused with the reason and no tool is called", () => {
    const outcome = startRun(request({ tenant: "mallory", workflow: "fan-in" }), undefined, planner);
    expect(outcome.run).toMatchObject({ requestId: "req-1", status: "COMPLETED", steps: [] });
    expect(toolCalls(outcome)).toEqual([]);
    expect(outcome.messages.map((message) => [message.topic, message.key])).toEqual([
      ["baton.runs", "req-1"],
      ["baton.completed-runs", "req-1"],
    ]);
    expect(completed(outcome)).toMatchObject({
      requestId: "req-1",
      tenant: "mallory",
      outcome: "REFUSED",
      error: "unknown tenant mallory",
      steps: [],
      completedAt: now,
    });
  });

  it("a request whose writer may not submit for its tenant is refused, recorded and audited, never planned", () => {
    const outcome = refuseWriter(request(), undefined, "principal bob may not submit requests for tenant demo", now);
    expect(toolCalls(outcome)).toEqual([]);
    expect(runOf(outcome).status).toBe("COMPLETED");
    expect(completed(outcome)).toMatchObject({
      outcome: "REFUSED",
      error: "request refused: principal bob may not submit requests for tenant demo",
    });
    const audit = outcome.messages.find((message) => message.topic === "baton.policy-decisions");
    expect(audit).toMatchObject({
      key: "req-1",
      value: { subject: "REQUEST", action: "REFUSE", ruleId: "writer-not-allowed", tenant: "demo" },
    });
    const existing = runOf(startRun(request({ workflow: "fan-in" }), undefined, planner));
    expect(refuseWriter(request(), existing, "forged duplicate", now)).toEqual({ run: undefined, messages: [] });
  });

  it("a refused request is recorded, so the same requestId submitted again produces nothing", () => {
    const first = startRun(request({ tenant: "mallory", workflow: "fan-in" }), undefined, planner);
    const again = startRun(request({ tenant: "mallory", workflow: "fan-in" }), first.run, planner);
    expect(again).toEqual({ run: undefined, messages: [] });
  });

  it("an unknown workflow is refused with the list of known workflows", () => {
    const outcome = startRun(request({ workflow: "teleport" }), undefined, planner);
    expect(toolCalls(outcome)).toEqual([]);
    const run = completed(outcome);
    expect(run?.outcome).toBe("REFUSED");
    expect(run?.error).toContain("unknown workflow teleport");
    for (const name of ["fan-in", "escalate", "unknown-tool"]) expect(run?.error).toContain(name);
  });

  it("a request no workflow matches is refused", () => {
    const outcome = startRun(request({ input: "what is the weather like" }), undefined, planner);
    expect(toolCalls(outcome)).toEqual([]);
    expect(completed(outcome)).toMatchObject({ outcome: "REFUSED", error: "no workflow matches this request" });
  });

  it("a plan using a tool no executor offers fails before any step runs", () => {
    const outcome = startRun(request({ workflow: "unknown-tool" }), undefined, planner);
    expect(outcome.run?.status).toBe("COMPLETED");
    expect(toolCalls(outcome)).toEqual([]);
    const run = completed(outcome);
    expect(run?.outcome).toBe("FAILED");
    expect(run?.error).toMatch(/^invalid plan for unknown-tool: /);
    expect(run?.error).toContain("step launch uses unknown tool rockets/launch");
  });

  it("arguments that break the tool's input schema fail the step without calling it, and the run fails", () => {
    const outcome = startRun(request({ workflow: "fan-in", metadata: { x: "five" } }), undefined, planner);
    expect(toolCalls(outcome).map((call) => call.stepId)).toEqual(["left"]);
    const right = step(runOf(outcome), "right");
    expect(right.status).toBe("FAILED");
    expect(right.error).toMatch(/^invalid arguments for calc\/double: /);
    expect(right.error).toContain("required property 'x'");

    const finished = feed(outcome, (run) => result(run, "left", "SUCCEEDED", { output: { value: 2 } }));
    expect(step(runOf(finished), "sum")).toMatchObject({ status: "SKIPPED", error: "needs right, which ended FAILED" });
    const run = completed(finished);
    expect(run?.outcome).toBe("FAILED");
    expect(run?.error).toContain("right (calc/double) FAILED: invalid arguments for calc/double");
  });

  it("a single-step run whose arguments are invalid completes FAILED at once", () => {
    const single = parseWorkflow(
      `name: single\nsteps:\n  - { id: refund, tool: ticketing/issue_refund, arguments: { orderId: "1", amount: -5 } }\n`,
      "single.yaml",
    );
    const outcome = startRun(request({ workflow: "single" }), undefined, context([single]));
    expect(toolCalls(outcome)).toEqual([]);
    expect(runOf(outcome).status).toBe("COMPLETED");
    expect(completed(outcome)).toMatchObject({ outcome: "FAILED" });
    expect(completed(outcome)?.error).toContain("refund (ticketing/issue_refund) FAILED: invalid arguments");
  });
});

describe("recordResult", () => {
  const started = () => startRun(request({ workflow: "fan-in", metadata: { x: "5" } }), undefined, planner);

  it("a step needing two others is dispatched only after both results, with their outputs as numbers", () => {
    const afterLeft = feed(started(), (run) => result(run, "left", "SUCCEEDED", { output: { value: 2 } }));
    expect(toolCalls(afterLeft)).toEqual([]);
    expect(step(runOf(afterLeft), "sum").status).toBe("PENDING");

    const afterRight = feed(afterLeft, (run) => result(run, "right", "SUCCEEDED", { output: { value: 10 } }));
    const calls = toolCalls(afterRight);
    expect(calls.map((call) => call.stepId)).toEqual(["sum"]);
    expect(JSON.parse(calls[0]?.arguments ?? "null")).toStrictEqual({ a: 2, b: 10 });
    expect(calls[0]).toMatchObject({ idempotencyKey: "req-1/sum", attempt: 1 });
  });

  it("the last result completes the run and sends it to baton.completed-runs with every step", () => {
    const outcome = feed(
      started(),
      (run) => result(run, "left", "SUCCEEDED", { output: { value: 2 } }),
      (run) => result(run, "right", "SUCCEEDED", { output: { value: 10 } }),
      (run) => result(run, "sum", "SUCCEEDED", { output: { value: 12 } }),
    );
    expect(runOf(outcome).status).toBe("COMPLETED");
    expect(outcome.messages.map((message) => [message.topic, message.key])).toEqual([
      ["baton.runs", "req-1"],
      ["baton.completed-runs", "req-1"],
    ]);
    const run = completed(outcome);
    expect(run).toMatchObject({ requestId: "req-1", workflow: "fan-in", outcome: "COMPLETED", error: null });
    expect(run?.steps.map((item) => [item.stepId, item.status, item.output])).toEqual([
      ["left", "SUCCEEDED", '{"value":2}'],
      ["right", "SUCCEEDED", '{"value":10}'],
      ["sum", "SUCCEEDED", '{"value":12}'],
    ]);
    expect(run?.answerTemplate).not.toBeNull();
    expect(JSON.parse(run?.answerTemplate ?? "null")).toEqual([{ text: "The sum is {{ steps.sum.output.value }}" }]);
    expect(run?.steps.every((item) => item.attempts === 1 && item.durationMs === 42)).toBe(true);
  });

  it("a denied step refuses the run, naming the step and the policy's reason", () => {
    const reason = "denied by policy rule tool-denied: calc/double is denied for tenant demo (calc/*)";
    const outcome = feed(
      started(),
      (run) => result(run, "left", "DENIED", { error: reason }),
      (run) => result(run, "right", "SUCCEEDED", { output: { value: 10 } }),
    );
    expect(toolCalls(outcome)).toEqual([]);
    expect(step(runOf(outcome), "sum")).toMatchObject({ status: "SKIPPED", error: "needs left, which ended DENIED" });
    const run = completed(outcome);
    expect(run?.outcome).toBe("REFUSED");
    expect(run?.error).toBe(`left (calc/double) DENIED: ${reason}`);
  });

  it("a timed-out step fails the run and its dependents are skipped", () => {
    const outcome = feed(
      started(),
      (run) => result(run, "left", "SUCCEEDED", { output: { value: 2 } }),
      (run) => result(run, "right", "TIMED_OUT", { error: "calc/double did not answer within 30000 ms" }),
    );
    expect(toolCalls(outcome)).toEqual([]);
    const run = completed(outcome);
    expect(run?.outcome).toBe("FAILED");
    expect(run?.error).toContain("right (calc/double) TIMED_OUT: calc/double did not answer within 30000 ms");
    expect(run?.steps.find((item) => item.stepId === "sum")?.status).toBe("SKIPPED");
  });

  it("a duplicate result for a step already finished produces nothing", () => {
    const once = feed(started(), (run) => result(run, "left", "SUCCEEDED", { output: { value: 2 } }));
    const twice = recordResult(
      result(runOf(once), "left", "SUCCEEDED", { output: { value: 99 } }),
      runOf(once),
      planner,
    );
    expect(twice).toEqual({ run: undefined, messages: [] });
  });

  it("a result arriving after the run completed produces nothing", () => {
    const done = feed(
      started(),
      (run) => result(run, "left", "SUCCEEDED", { output: { value: 2 } }),
      (run) => result(run, "right", "SUCCEEDED", { output: { value: 10 } }),
      (run) => result(run, "sum", "SUCCEEDED", { output: { value: 12 } }),
    );
    const late = recordResult(result(runOf(done), "sum", "FAILED", { error: "late" }), runOf(done), planner);
    expect(late).toEqual({ run: undefined, messages: [] });
  });

  it("a result for an unknown run is an INVALID_INPUT error", () => {
    const orphan: ToolResult = { ...result(runOf(started()), "left", "SUCCEEDED"), requestId: "req-unknown" };
    let error: unknown;
    try {
      recordResult(orphan, undefined, planner);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(BatonError);
    expect(error).toMatchObject({ code: "INVALID_INPUT", retriable: false });
    expect((error as Error).message).toContain("req-unknown");
  });

  it("a result for a step the run does not have is an INVALID_INPUT error", () => {
    const run = runOf(started());
    const stray: ToolResult = { ...result(run, "left", "SUCCEEDED"), stepId: "middle" };
    expect(() => recordResult(stray, run, planner)).toThrow(/has no step middle/);
  });
});

describe("fallback steps", () => {
  // escalate: search, then ticket (when nothing found), then notify with the ticket's id.
  const reachTicket = () =>
    feed(
      startRun(
        request({ workflow: "escalate", input: "broken", metadata: { customerEmail: "a@b.c" } }),
        undefined,
        planner,
      ),
      (run) => result(run, "search", "SUCCEEDED", { output: { found: false } }),
    );
  const breakerOpen = (run: RunState): ToolResult => ({
    ...result(run, "ticket", "FAILED", {
      error:
        "the circuit breaker of ticketing/create_ticket is open after repeated failures; its fallback outbox/send_email runs instead",
    }),
    fallbackTool: "ticketing/create_ticket_backup",
  });
  const withBackup = context([escalate], {
    tool: (name) =>
      name === "ticketing/create_ticket_backup"
        ? tool("ticketing/create_ticket") && { ...tool("ticketing/create_ticket")!, name }
        : tool(name),
  });

  it("a result naming a fallback dispatches it as its own step, with its own idempotency key, through policy", () => {
    const outcome = recordResult(breakerOpen(runOf(reachTicket())), runOf(reachTicket()), withBackup);
    const [call, ...more] = toolCalls(outcome);
    expect(more).toEqual([]);
    expect(call).toMatchObject({
      stepId: "ticket~fallback",
      tool: "ticketing/create_ticket_backup",
      idempotencyKey: "req-1/ticket~fallback",
      fallbackFor: "ticket",
      tenant: "demo",
      attempt: 1,
    });
    expect(JSON.parse(call?.arguments ?? "null")).toMatchObject({
      subject: "Request req-1",
      body: "broken",
      priority: "high",
    });
    // The call goes to baton.tool-calls, which policy reads: the fallback is judged like any call.
    expect(outcome.messages[0]?.topic).toBe("baton.tool-calls");
    const run = runOf(outcome);
    expect(run.status).toBe("RUNNING");
    expect(run.steps.map((item) => [item.stepId, item.status])).toEqual([
      ["search", "SUCCEEDED"],
      ["ticket", "FALLING_BACK"],
      ["ticket~fallback", "DISPATCHED"],
      ["notify", "PENDING"],
    ]);
  });

  it("the fallback's outcome becomes its primary's: later steps read it, and the response lists both steps", () => {
    const fellBack = recordResult(breakerOpen(runOf(reachTicket())), runOf(reachTicket()), withBackup);
    const answered = recordResult(
      result(runOf(fellBack), "ticket~fallback", "SUCCEEDED", { output: { ticketId: "TCK-9" } }),
      runOf(fellBack),
      withBackup,
    );
    const [notify] = toolCalls(answered);
    expect(notify?.stepId).toBe("notify");
    expect(JSON.parse(notify?.arguments ?? "null")).toMatchObject({ subject: "Ticket TCK-9" });
    const done = recordResult(
      result(runOf(answered), "notify", "SUCCEEDED", { output: {} }),
      runOf(answered),
      withBackup,
    );
    expect(completed(done)?.outcome).toBe("COMPLETED");
    expect(completed(done)?.steps.map((item) => [item.stepId, item.tool, item.status])).toEqual([
      ["search", "knowledge-base/search", "SUCCEEDED"],
      ["ticket", "ticketing/create_ticket", "SUCCEEDED"],
      ["ticket~fallback", "ticketing/create_ticket_backup", "SUCCEEDED"],
      ["notify", "outbox/send_email", "SUCCEEDED"],
    ]);
  });

  it("a fallback policy denies refuses the run, naming the fallback and the rule", () => {
    const fellBack = recordResult(breakerOpen(runOf(reachTicket())), runOf(reachTicket()), withBackup);
    const denied = recordResult(
      result(runOf(fellBack), "ticket~fallback", "DENIED", { error: "denied by policy rule tool-not-allowed: no" }),
      runOf(fellBack),
      withBackup,
    );
    expect(toolCalls(denied)).toEqual([]);
    expect(completed(denied)?.outcome).toBe("REFUSED");
    expect(step(runOf(denied), "ticket")).toMatchObject({ status: "DENIED" });
    expect(step(runOf(denied), "ticket").error).toContain("fallback ticketing/create_ticket_backup ended DENIED");
    expect(step(runOf(denied), "notify").status).toBe("SKIPPED");
  });

  it("a duplicate breaker-open result dispatches nothing more, and a fallback never falls back again", () => {
    const fellBack = recordResult(breakerOpen(runOf(reachTicket())), runOf(reachTicket()), withBackup);
    expect(recordResult(breakerOpen(runOf(fellBack)), runOf(fellBack), withBackup)).toEqual({
      run: undefined,
      messages: [],
    });
    const chained = recordResult(
      { ...result(runOf(fellBack), "ticket~fallback", "FAILED", { error: "open" }), fallbackTool: "other/tool" },
      runOf(fellBack),
      withBackup,
    );
    expect(toolCalls(chained)).toEqual([]);
    expect(step(runOf(chained), "ticket").status).toBe("FAILED");
  });

  it("a fallback whose tool no executor offers fails its primary at once", () => {
    const outcome = recordResult(breakerOpen(runOf(reachTicket())), runOf(reachTicket()), planner);
    expect(toolCalls(outcome)).toEqual([]);
    expect(step(runOf(outcome), "ticket").status).toBe("FAILED");
    expect(step(runOf(outcome), "ticket~fallback").error).toContain("not offered by any executor");
    expect(completed(outcome)?.outcome).toBe("FAILED");
  });

  it("a run that passes its deadline while a fallback runs times both out", () => {
    const fellBack = runOf(recordResult(breakerOpen(runOf(reachTicket())), runOf(reachTicket()), withBackup));
    const expired = expireRun({ requestId: "req-1", deadlineAt: now }, fellBack, withBackup);
    expect(runOf(expired).steps.map((item) => item.status)).toEqual(["SUCCEEDED", "TIMED_OUT", "TIMED_OUT", "SKIPPED"]);
  });
});

describe("conditions", () => {
  const started = (metadata: Record<string, string> = { customerEmail: "ana@example.com" }) =>
    startRun(request({ workflow: "escalate", input: "my parcel is late", metadata }), undefined, planner);

  it("a false `when` skips the step, and the steps needing it are skipped with the reason", () => {
    const outcome = feed(started(), (run) => result(run, "search", "SUCCEEDED", { output: { found: true } }));
    expect(toolCalls(outcome)).toEqual([]);
    const run = runOf(outcome);
    expect(step(run, "ticket")).toMatchObject({ status: "SKIPPED", error: "condition not met" });
    expect(step(run, "notify")).toMatchObject({ status: "SKIPPED", error: "needs ticket, which ended SKIPPED" });
    expect(run.status).toBe("COMPLETED");
    expect(completed(outcome)).toMatchObject({ outcome: "COMPLETED", error: null });
  });

  it("a true `when` dispatches the step, and a later step gets its output", () => {
    const ticketed = feed(started(), (run) => result(run, "search", "SUCCEEDED", { output: { found: false } }));
    const ticketCall = toolCalls(ticketed);
    expect(ticketCall.map((call) => call.stepId)).toEqual(["ticket"]);
    expect(JSON.parse(ticketCall[0]?.arguments ?? "null")).toEqual({
      subject: "Request req-1",
      body: "my parcel is late",
      priority: "high",
    });

    const notified = feed(ticketed, (run) =>
      result(run, "ticket", "SUCCEEDED", { output: { ticketId: "TCK-000123" } }),
    );
    const [email] = toolCalls(notified);
    expect(JSON.parse(email?.arguments ?? "null")).toEqual({
      to: "ana@example.com",
      subject: "Ticket TCK-000123",
      body: "We opened ticket TCK-000123.",
    });
  });
});

describe("the shipped workflows", () => {
  const shipped = async (name: string): Promise<Workflow> =>
    parseWorkflow(await readFile(fromRoot("workflows", `${name}.yaml`), "utf8"), `${name}.yaml`);

  it("refund sends the amount from metadata as a number", async () => {
    const refund = await shipped("refund");
    const outcome = startRun(
      request({ workflow: "refund", input: "refund please", metadata: { orderId: "1234", amount: "120" } }),
      undefined,
      context([refund]),
    );
    const refundCall = toolCalls(outcome).find((call) => call.stepId === "refund");
    expect(JSON.parse(refundCall?.arguments ?? "null")).toStrictEqual({ orderId: "1234", amount: 120 });
  });

  it("refund without an amount fails the refund step instead of sending a bad call", async () => {
    const refund = await shipped("refund");
    const outcome = startRun(
      request({ workflow: "refund", input: "refund please", metadata: { orderId: "1234" } }),
      undefined,
      context([refund]),
    );
    expect(toolCalls(outcome).map((call) => call.stepId)).toEqual(["policy"]);
    expect(step(runOf(outcome), "refund").error).toContain("required property 'amount'");
  });

  it("customer-support answers from the knowledge base without a ticket when the answer was found", async () => {
    const support = await shipped("customer-support");
    const planned = context([support]);
    const outcome = startRun(
      request({ input: "my order arrived damaged", metadata: { customerEmail: "ana@example.com" } }),
      undefined,
      planned,
    );
    expect(toolCalls(outcome).map((call) => call.tool)).toEqual(["knowledge-base/search"]);
    const run = runOf(outcome);
    const done = recordResult(
      result(run, "search", "SUCCEEDED", { output: { found: true, needsEscalation: false, answer: "Send a photo." } }),
      run,
      planned,
    );
    expect(toolCalls(done)).toEqual([]);
    expect(completed(done)?.steps.map((item) => [item.stepId, item.status])).toEqual([
      ["search", "SUCCEEDED"],
      ["ticket", "SKIPPED"],
      ["notify", "SKIPPED"],
    ]);
  });
});

describe("expireRun", () => {
  it("a run past its deadline completes FAILED: running steps TIMED_OUT, unstarted steps SKIPPED, and what completed is named", () => {
    const planner = context([fanIn]);
    const started = startRun(
      request({ workflow: "fan-in", metadata: { x: "5", deadlineMs: "1500" } }),
      undefined,
      planner,
    );
    expect(started.run?.deadlineAt).toBe(now + 1_500);
    const [left] = toolCalls(started);
    if (left === undefined || started.run === undefined) throw new Error("no dispatch");
    const afterLeft = recordResult(
      {
        requestId: "req-1",
        stepId: left.stepId,
        tool: left.tool,
        status: "SUCCEEDED",
        output: '{"value":1}',
        error: null,
        attempts: 1,
        durationMs: 3,
        completedAt: now,
        fallbackTool: null,
      },
      started.run,
      planner,
    );
    const running = afterLeft.run ?? started.run;
    const expired = expireRun({ requestId: "req-1", deadlineAt: now + 1_500 }, running, planner);
    expect(expired.run?.status).toBe("COMPLETED");
    const outcome = completed(expired);
    expect(outcome?.outcome).toBe("FAILED");
    expect(outcome?.error).toMatch(/^the deadline passed at .+; completed: left$/);
    const statuses = Object.fromEntries((expired.run?.steps ?? []).map((step) => [step.stepId, step.status]));
    expect(Object.values(statuses).filter((status) => status === "SUCCEEDED")).toHaveLength(1);
    expect(Object.values(statuses).every((status) => ["SUCCEEDED", "TIMED_OUT", "SKIPPED"].includes(status))).toBe(
      true,
    );
    expect(expireRun({ requestId: "req-1", deadlineAt: now }, expired.run, planner)).toEqual({
      run: undefined,
      messages: [],
    });
  });
});

describe("direct tool calls", () => {
  const direct = (tool: string, input: string): Request =>
    request({ workflow: `tool:${tool}`, input, metadata: { source: "mcp" } });

  it("a request naming tool:<server>/<tool> dispatches that one tool with the input's JSON as its literal arguments", () => {
    const input = JSON.stringify({ subject: "{{ request.tenant }}", body: "Broken parcel", priority: "high" });
    const outcome = startRun(direct("ticketing/create_ticket", input), undefined, planner);
    const calls = toolCalls(outcome);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      stepId: "call",
      tool: "ticketing/create_ticket",
      idempotencyKey: "req-1/call",
      fallbackFor: null,
    });
    expect(JSON.parse(calls[0]?.arguments ?? "null")).toEqual(JSON.parse(input));
    expect(runOf(outcome).workflow).toBe("tool:ticketing/create_ticket");
  });

  it("its answer is the tool's output as JSON", () => {
    const started = startRun(direct("calc/double", '{"x":2}'), undefined, planner);
    const done = feed(started, (run) => result(run, "call", "SUCCEEDED", { output: { value: 4 } }));
    const finished = completed(done);
    expect(finished?.outcome).toBe("COMPLETED");
    const answer = JSON.parse(finished?.answerTemplate ?? "[]") as Array<{ text: string }>;
    expect(answer).toEqual([{ text: "{{ steps.call.output | string }}" }]);
  });

  it("a direct call policy denies refuses the run, naming the rule", () => {
    const started = startRun(direct("calc/double", '{"x":2}'), undefined, planner);
    const done = feed(started, (run) =>
      result(run, "call", "DENIED", { error: "denied by policy rule tool-not-allowed: not allowed" }),
    );
    expect(completed(done)?.outcome).toBe("REFUSED");
    expect(completed(done)?.error).toContain("tool-not-allowed");
  });

  it("arguments that are not a JSON object, or a malformed tool name, are refused before anything runs", () => {
    for (const bad of [direct("calc/double", "[1,2]"), direct("calc/double", "x=2"), direct("calc", '{"x":2}')]) {
      const outcome = startRun(bad, undefined, planner);
      expect(toolCalls(outcome)).toEqual([]);
      expect(completed(outcome)?.outcome).toBe("REFUSED");
    }
  });

  it("a tool no executor offers fails the plan, and arguments breaking its schema fail the step uncalled", () => {
    expect(completed(startRun(direct("rockets/launch", "{}"), undefined, planner))?.error).toContain(
      "unknown tool rockets/launch",
    );
    const invalid = startRun(direct("calc/double", '{"x":"two"}'), undefined, planner);
    expect(toolCalls(invalid)).toEqual([]);
    expect(completed(invalid)?.outcome).toBe("FAILED");
  });
});
