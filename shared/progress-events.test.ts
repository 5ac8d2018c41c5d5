import { describe, expect, it } from "vitest";
import type { OutgoingMessage } from "./kafka/producer.ts";
import { progressEvents, withProgressEvents } from "./progress-events.ts";
import type { Event, PolicyDecision, Response, ToolCall, ToolResult } from "./schemas/records.ts";

const call: ToolCall = {
  requestId: "r1",
  tenant: "demo",
  stepId: "search",
  tool: "knowledge-base/search",
  arguments: "{}",
  idempotencyKey: "r1/search",
  attempt: 1,
  timeoutMs: 1000,
  dispatchedAt: 1,
  deadlineAt: null,
  fallbackFor: null,
};

const result = (status: ToolResult["status"], error: string | null = null): ToolResult => ({
  requestId: "r1",
  stepId: "search",
  tool: "knowledge-base/search",
  status,
  output: null,
  error,
  attempts: 2,
  durationMs: 5,
  completedAt: 2,
  fallbackTool: null,
});

const types = (messages: OutgoingMessage[]): string[] => messages.map((message) => (message.value as Event).type);

describe("progressEvents", () => {
  it("tells a planned, an allowed and a finished step, keyed by requestId on baton.events", () => {
    const events = progressEvents(
      [
        { topic: "baton.tool-calls", key: "r1", value: call },
        { topic: "baton.allowed-calls", key: "r1", value: call },
        { topic: "baton.tool-results", key: "r1", value: result("SUCCEEDED") },
        { topic: "baton.tool-outcomes", key: "r1/search", value: result("SUCCEEDED") },
        { topic: "baton.runs", key: "r1", value: {} },
      ],
      7,
    );
    expect(types(events)).toEqual(["PLANNED", "ALLOWED", "FINISHED"]);
    expect(events.every((event) => event.topic === "baton.events" && event.key === "r1")).toBe(true);
    expect(events[2]?.value).toMatchObject({ status: "SUCCEEDED", attempt: 2, at: 7, stepId: "search" });
  });

  it("a denied result is DENIED with its reason, not FINISHED", () => {
    const [event] = progressEvents(
      [{ topic: "baton.tool-results", key: "r1", value: result("DENIED", "no-refunds: refunds are off") }],
      1,
    );
    expect(event?.value).toMatchObject({ type: "DENIED", detail: "no-refunds: refunds are off" });
  });

  it("a person's approval comes before the call it lets run; other audits tell nothing", () => {
    const decision = (action: PolicyDecision["action"], subject: PolicyDecision["subject"]): PolicyDecision => ({
      requestId: "r1",
      tenant: "demo",
      stepId: "refund",
      tool: "ticketing/issue_refund",
      subject,
      action,
      ruleId: null,
      reason: "approved by alice",
      decidedAt: 1,
    });
    const events = progressEvents(
      [
        { topic: "baton.allowed-calls", key: "r1", value: call },
        { topic: "baton.policy-decisions", key: "r1", value: decision("APPROVED", "APPROVAL") },
        { topic: "baton.policy-decisions", key: "r1", value: decision("ALLOW", "TOOL_CALL") },
      ],
      1,
    );
    expect(types(events)).toEqual(["APPROVED", "ALLOWED"]);
  });

  it("the response event carries the status, the answer and the whole response as JSON", () => {
    const response: Response = {
      requestId: "r1",
      status: "ANSWERED",
      answer: "Three days.",
      steps: [],
      error: null,
      completedAt: 3,
    };
    const [event] = progressEvents([{ topic: "baton.responses", key: "r1", value: response }], 3);
    expect(event?.value).toMatchObject({ type: "RESPONSE", status: "ANSWERED", text: "Three days." });
    expect(JSON.parse((event?.value as Event).response ?? "")).toEqual(response);
  });

  it("withProgressEvents keeps the outcome's messages and other fields, events after them", () => {
    const afterCommit = (): void => undefined;
    const outcome = withProgressEvents(
      { messages: [{ topic: "baton.tool-calls", key: "r1", value: call }], afterCommit },
      1,
    );
    expect(outcome.afterCommit).toBe(afterCommit);
    expect(outcome.messages.map((message) => message.topic)).toEqual(["baton.tool-calls", "baton.events"]);
  });
});
