import { describe, expect, it } from "vitest";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { parsePolicy } from "../../shared/policy-file.ts";
import type { ApprovalDecision, Request, ToolDescription } from "../../shared/schemas/records.ts";
import { callDigest } from "../../services/policy/approval-check.ts";
import { Principals } from "../../shared/security/principals.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import type { ToolCallOutcome, ToolInvoker } from "../../services/executor/mcp-connections.ts";
import { parseWorkflow, type Workflow } from "../../services/planner/workflow-file.ts";
import { recordedRun, runView, type TopicMessage } from "./recorded-run.ts";
import { diffViews } from "./replay-diff.ts";
import { canonicalJson, createReplayMetrics, ReplayEngine, type ReplayConfiguration } from "./replay-engine.ts";

const finishedSpans = new InMemorySpanExporter();
const tracer = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: finishedSpans })] }).getTracer(
  "test",
);

const support = parseWorkflow(
  `
name: support
description: search, then open a ticket
steps:
  - id: search
    tool: kb/search
    arguments: { query: "{{ request.input }}", limit: 3 }
  - id: ticket
    tool: desk/create_ticket
    needs: [search]
    arguments: { subject: "Request {{ request.requestId }}" }
answer:
  - text: "{{ steps.search.output.answer }} Ticket {{ steps.ticket.output.ticketId }}."
`,
  "support.yaml",
);

const catalogue: ToolDescription[] = [
  { name: "kb/search", description: "search", inputSchema: JSON.stringify({ type: "object" }) },
  { name: "desk/create_ticket", description: "ticket", inputSchema: JSON.stringify({ type: "object" }) },
];

const policy = parsePolicy(`tenants:\n  demo:\n    tools:\n      allow: ["kb/*", "desk/*"]\n`, "policy.yaml");

const request: Request = {
  requestId: "r-1",
  tenant: "demo",
  input: "where is my parcel",
  workflow: "support",
  metadata: {},
  submittedAt: 1,
};

/** Tools that answer, counting their calls: the "live" servers of the original run. */
function liveTools(): ToolInvoker & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    call(tool): Promise<ToolCallOutcome> {
      calls.push(tool);
      const output = tool === "kb/search" ? { answer: "On its way." } : { ticketId: "T-7" };
      return Promise.resolve({ status: "SUCCEEDED", output: JSON.stringify(output) });
    },
  };
}

function engine(
  workflows: Workflow[],
  options: Partial<Pick<ReplayConfiguration, "readOnlyTools" | "policy" | "metrics">> = {},
): ReplayEngine {
  return new ReplayEngine({
    replayId: "replay-test",
    workflows: new Map(workflows.map((workflow) => [workflow.name, workflow])),
    policy: options.policy ?? policy,
    principals: new Principals(options.policy ?? policy),
    catalogue,
    defaultDeadlineMs: 60_000,
    llm: undefined,
    followUps: 0,
    ...(options.readOnlyTools === undefined ? {} : { readOnlyTools: options.readOnlyTools }),
    logger: createLogger({ service: "test", level: "silent" }),
    tracer,
    metrics: options.metrics ?? createReplayMetrics(),
  });
}

/** The original run: the same stage logic with tools that answer, recorded as the topics would hold it. */
async function original(): Promise<{ messages: TopicMessage[]; tools: ReturnType<typeof liveTools> }> {
  const tools = liveTools();
  const live = engine([support], { readOnlyTools: { invoker: tools, isReadOnly: () => true } });
  const run = await live.replay({
    request,
    requestHeaders: {},
    partition: 0,
    outcomes: [],
    calls: [],
    approvals: [],
    messages: [],
    submittedAt: 1,
    respondedAt: undefined,
    response: undefined,
  });
  const messages: TopicMessage[] = [
    { topic: "baton.requests", key: request.requestId, value: request, headers: {}, partition: 0, timestamp: 1 },
    ...run.messages.map((message, index) => ({
      topic: message.topic,
      key: message.key,
      value: message.value,
      headers: {},
      partition: 0,
      timestamp: 2 + index,
    })),
  ];
  return { messages, tools };
}

describe("replay engine", () => {
  it("answers every call of the original from its recorded outcome: the same run, and no tool called", async () => {
    const { messages, tools } = await original();
    expect(tools.calls).toEqual(["kb/search", "desk/create_ticket"]);
    const recorded = recordedRun(messages);
    if (recorded === undefined) throw new Error("no recorded run");
    const replayed = await engine([support]).replay(recorded);
    expect(replayed.calls.map((call) => `${call.stepId} ${call.source}`)).toEqual([
      "search recorded",
      "ticket recorded",
    ]);
    expect(replayed.view.answer).toEqual(["status ANSWERED", "On its way. Ticket T-7."]);
    expect(diffViews(runView(messages), replayed.view)).toEqual([]);
    expect(tools.calls).toHaveLength(2);
  });

  it("a call with other arguments is new: it reaches no tool, even a read-only one unless allowed", async () => {
    const { messages } = await original();
    const recorded = recordedRun(messages);
    if (recorded === undefined) throw new Error("no recorded run");
    const changed = {
      ...support,
      steps: support.steps.map((step) => ({ ...step, arguments: { ...step.arguments, limit: 5 } })),
    };
    const tools = liveTools();
    const replayed = await engine([changed], {
      readOnlyTools: { invoker: tools, isReadOnly: (tool) => tool === "kb/search" },
    }).replay(recorded);
    expect(replayed.calls.map((call) => `${call.stepId} ${call.source}`)).toEqual(["search read-only", "ticket new"]);
    expect(tools.calls).toEqual(["kb/search"]);
    const steps = diffViews(runView(messages), replayed.view).find((diff) => diff.part === "steps");
    expect(steps?.added.join("\n")).toMatch(/ticket desk\/create_ticket FAILED .*not called by replay/);

    const withoutTools = await engine([changed]).replay(recorded);
    // The search is new and not made, so it fails and the ticket after it never comes to a call.
    expect(withoutTools.calls.map((call) => `${call.stepId} ${call.source}`)).toEqual(["search new"]);
    expect(withoutTools.view.steps[1]).toMatch(/^ticket desk\/create_ticket SKIPPED/);
  });

  it("a policy that now denies a tool changes the decision, and the call is not made", async () => {
    const { messages } = await original();
    const recorded = recordedRun(messages);
    if (recorded === undefined) throw new Error("no recorded run");
    const denying = parsePolicy(
      `tenants:\n  demo:\n    tools:\n      allow: ["kb/*", "desk/*"]\n      deny: ["desk/create_ticket"]\n`,
      "policy.yaml",
    );
    const replayed = await engine([support], { policy: denying }).replay(recorded);
    expect(replayed.calls.map((call) => call.stepId)).toEqual(["search"]);
    const decisions = diffViews(runView(messages), replayed.view).find((diff) => diff.part === "decisions");
    expect(decisions?.removed).toContain("TOOL_CALL ALLOW ticket desk/create_ticket -");
    expect(decisions?.added).toContain("TOOL_CALL DENY ticket desk/create_ticket tool-denied");
  });

  it("marks its spans with the replay and counts its work in series labelled replay", async () => {
    const { messages } = await original();
    const recorded = recordedRun(messages);
    if (recorded === undefined) throw new Error("no recorded run");
    finishedSpans.reset();
    const metrics = createReplayMetrics();
    await engine([support], { metrics }).replay(recorded);
    const spans = finishedSpans.getFinishedSpans();
    expect(spans.map((span) => span.name)).toContain("replay r-1");
    expect(spans.map((span) => span.name)).toContain("replay executor baton.allowed-calls");
    for (const span of spans) expect(span.attributes["baton.replay"]).toBe("replay-test");
    const text = await metrics.registry.metrics();
    expect(text).toContain('baton_tool_calls_total{tool="kb/search",status="recorded",stage="replay",replay="true"} 1');
    expect(text).toContain('baton_messages_in_total{topic="baton.requests",stage="replay",replay="true"} 1');
  });

  it("a call that waited for a person gets the recorded decision again, and a changed call does not", async () => {
    const approving = parsePolicy(
      `tenants:\n  demo:\n    tools:\n      allow: ["kb/*", "desk/*"]\n    approvals:\n` +
        `      - { id: tickets-need-a-person, tool: desk/create_ticket, reason: a person decides }\n`,
      "policy.yaml",
    );
    const args = JSON.stringify({ subject: "Request r-1" });
    const decision: ApprovalDecision = {
      requestId: "r-1",
      tenant: "demo",
      stepId: "ticket",
      tool: "desk/create_ticket",
      arguments: args,
      idempotencyKey: "r-1/ticket",
      attempt: 1,
      timeoutMs: 30_000,
      dispatchedAt: 1,
      deadlineAt: null,
      fallbackFor: null,
      callDigest: callDigest({ tool: "desk/create_ticket", arguments: args }),
      approved: true,
      approver: "ann",
      comment: null,
      decidedAt: 2,
    };
    const tools = liveTools();
    const live = await engine([support], {
      policy: approving,
      readOnlyTools: { invoker: tools, isReadOnly: () => true },
    }).replay({
      request,
      requestHeaders: {},
      partition: 0,
      outcomes: [],
      calls: [],
      approvals: [{ decision, headers: {} }],
      messages: [],
      submittedAt: 1,
      respondedAt: undefined,
      response: undefined,
    });
    expect(tools.calls).toEqual(["kb/search", "desk/create_ticket"]);
    const messages: TopicMessage[] = [
      { topic: "baton.requests", key: "r-1", value: request, headers: {}, partition: 0, timestamp: 1 },
      ...live.messages.map((message, index) => ({
        ...message,
        key: message.key,
        headers: {},
        partition: 0,
        timestamp: 2 + index,
      })),
    ];
    const recorded = recordedRun(messages);
    if (recorded === undefined) throw new Error("no recorded run");
    expect(recorded.approvals).toHaveLength(1);

    const same = await engine([support], { policy: approving }).replay(recorded);
    expect(diffViews(runView(messages), same.view)).toEqual([]);
    expect(same.view.decisions).toContain("TOOL_CALL APPROVED ticket desk/create_ticket tickets-need-a-person");

    const changed = {
      ...support,
      steps: support.steps.map((step) =>
        step.id === "ticket" ? { ...step, arguments: { subject: "Case {{ request.requestId }}" } } : step,
      ),
    };
    const waiting = await engine([changed], { policy: approving }).replay(recorded);
    expect(waiting.unfinished).toMatch(/waits for a person's decision the original run never got \(r-1\/ticket\)/);
    expect(waiting.view.decisions).toContain("APPROVAL REFUSE ticket desk/create_ticket approval-not-matched");
    expect(waiting.calls.map((call) => call.stepId)).toEqual(["search"]);
  });

  it("matches arguments whatever the order of their keys", () => {
    expect(canonicalJson('{"b":1,"a":{"d":2,"c":3}}')).toBe(canonicalJson('{"a":{"c":3,"d":2},"b":1}'));
    expect(canonicalJson('{"a":1}')).not.toBe(canonicalJson('{"a":2}'));
  });
});
