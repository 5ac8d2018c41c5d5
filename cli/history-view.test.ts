import { describe, expect, it } from "vitest";
import { deadLetterHeaders } from "../shared/kafka/headers.ts";
import type { RunState, ToolCall, ToolResult } from "../shared/schemas/records.ts";
import { buildHistory, formatHistory, type HistoryMessage } from "./history-view.ts";

let offset = 0;
function message(topic: string, key: string | null, value: unknown, timestamp: number, headers = {}): HistoryMessage {
  offset += 1;
  return { topic, partition: 4, offset: String(offset), key, value, headers, timestamp };
}

const call: ToolCall = {
  requestId: "r1",
  tenant: "demo",
  stepId: "ticket",
  tool: "ticketing/create_ticket",
  arguments: '{"subject":"Broken"}',
  idempotencyKey: "r1/ticket",
  attempt: 1,
  timeoutMs: 5_000,
  dispatchedAt: 2,
  deadlineAt: null,
  fallbackFor: null,
};
const result: ToolResult = {
  requestId: "r1",
  stepId: "ticket",
  tool: "ticketing/create_ticket",
  status: "SUCCEEDED",
  output: "{}",
  error: null,
  attempts: 1,
  durationMs: 12,
  completedAt: 3,
  fallbackTool: null,
};
const run = (status: RunState["status"]): RunState => ({
  requestId: "r1",
  tenant: "demo",
  input: "help",
  workflow: "support",
  metadata: {},
  submittedAt: 1,
  status,
  answerTemplate: null,
  steps: [
    {
      stepId: "ticket",
      tool: "ticketing/create_ticket",
      needs: [],
      condition: null,
      argumentsTemplate: "{}",
      timeoutMs: 5_000,
      status: status === "RUNNING" ? "DISPATCHED" : "SUCCEEDED",
      output: null,
      error: null,
      attempts: 1,
      dispatchedAt: 2,
      durationMs: 12,
    },
  ],
  updatedAt: 2,
  deadlineAt: null,
});

describe("a request's history", () => {
  const messages = [
    message("baton.tool-results", "r1", result, 3),
    message("baton.runs", "r1", run("RUNNING"), 2),
    message("baton.tool-calls", "r1", call, 2),
    message("baton.tool-outcomes", "r1/ticket", result, 3),
    message("baton.requests", "r1", { tenant: "demo", workflow: null, input: "help" }, 1),
    message("baton.requests", "r10", { tenant: "demo", workflow: null, input: "other" }, 1),
    message("baton.runs", "r1", run("COMPLETED"), 4),
    message("baton.approval-requests", "r1/ticket", null, 5),
    message("baton.allowed-calls.retry.10s", "r1", { ...call, attempt: 2 }, 6),
    message("baton.allowed-calls.dlq", "r1", call, 7, {
      [deadLetterHeaders.code]: "TIMEOUT",
      [deadLetterHeaders.stage]: "executor",
      [deadLetterHeaders.reason]: "no answer",
    }),
  ];

  it("keeps the request's messages (by id and by id/step), in time order, the first run state as its plan", () => {
    const history = buildHistory("r1", messages);
    expect(history.map((entry) => entry.what)).toEqual([
      'request (tenant demo): "help"',
      "plan: 1 step (ticket ticketing/create_ticket), workflow support",
      'call ticket ticketing/create_ticket {"subject":"Broken"}',
      "result ticket ticketing/create_ticket SUCCEEDED attempts 1 (12 ms)",
      "outcome recorded ticket ticketing/create_ticket SUCCEEDED",
      "run COMPLETED: ticket SUCCEEDED",
      "approval request closed (tombstone)",
      "retry 10s: cleared ticket ticketing/create_ticket attempt 2",
      "dead letter (TIMEOUT in executor: no answer): cleared ticket ticketing/create_ticket",
    ]);
  });

  it("prints one line per message with time, topic and partition/offset", () => {
    const lines = formatHistory("r1", buildHistory("r1", messages));
    expect(lines[0]).toBe("r1: 9 messages on partition 4");
    expect(lines[2]).toMatch(/^1970-01-01T00:00:00\.001Z {2}baton\.requests\s+4\/5\s+request \(tenant demo\): "help"$/);
  });
});
