import { describe, it, expect } from "vitest";
import type { ToolCall, ToolResult } from "../../shared/schemas/records.ts";
import { executeCall } from "./executor.ts";
import type { ToolCallOutcome, ToolInvoker } from "./mcp-connections.ts";

interface Invocation {
  tool: string;
  args: unknown;
  options: { timeoutMs: number; meta: Record<string, string> };
}

/** A ToolInvoker that answers with a fixed outcome and remembers what it was asked. */
function fakeInvoker(outcome: ToolCallOutcome): ToolInvoker & { invocations: Invocation[] } {
  const invocations: Invocation[] = [];
  return {
    invocations,
    call(tool, args, options) {
      invocations.push({ tool, args, options });
      return Promise.resolve(outcome);
    },
  };
}

/** A clock that moves forward 25 ms each time it is read. */
function steppingClock(start: number): () => number {
  let time = start - 25;
  return () => (time += 25);
}

const traceHeaders = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };

function call(fields: Partial<ToolCall> = {}): ToolCall {
  return {
    requestId: "req-1",
    tenant: "demo",
    stepId: "ticket",
    tool: "ticketing/create_ticket",
    arguments: JSON.stringify({ subject: "Broken parcel", body: "It arrived damaged" }),
    idempotencyKey: "req-1/ticket",
    attempt: 2,
    timeoutMs: 7_500,
    dispatchedAt: 1_000,
    ...fields,
  };
}

async function run(planned: ToolCall, invoker: ToolInvoker): Promise<ToolResult> {
  const message = await executeCall(planned, invoker, { now: steppingClock(10_000), traceHeaders });
  expect(message.topic).toBe("baton.tool-results");
  expect(message.key).toBe(planned.requestId);
  return message.value as ToolResult;
}

describe("executeCall", () => {
  it("a successful call reports SUCCEEDED with the tool's output, its attempt and how long it took", async () => {
    const output = JSON.stringify({ ticketId: "TCK-000123" });
    const result = await run(call(), fakeInvoker({ status: "SUCCEEDED", output }));
    expect(result).toEqual({
      requestId: "req-1",
      stepId: "ticket",
      tool: "ticketing/create_ticket",
      status: "SUCCEEDED",
      output,
      error: null,
      attempts: 2,
      durationMs: 25,
      completedAt: 10_025,
    });
  });

  it("a failed call reports FAILED with the tool's error and no output", async () => {
    const result = await run(call(), fakeInvoker({ status: "FAILED", error: "subject is required" }));
    expect(result).toMatchObject({ status: "FAILED", output: null, error: "subject is required" });
  });

  it("a call that took too long reports TIMED_OUT with the error", async () => {
    const error = "ticketing/create_ticket did not answer within 7500 ms";
    const result = await run(call(), fakeInvoker({ status: "TIMED_OUT", error }));
    expect(result).toMatchObject({ status: "TIMED_OUT", output: null, error });
  });

  it("passes the tool, the parsed arguments, the call's timeout, the trace headers and the idempotency key", async () => {
    const invoker = fakeInvoker({ status: "SUCCEEDED", output: "{}" });
    await run(call(), invoker);
    expect(invoker.invocations).toEqual([
      {
        tool: "ticketing/create_ticket",
        args: { subject: "Broken parcel", body: "It arrived damaged" },
        options: { timeoutMs: 7_500, meta: { ...traceHeaders, "baton/idempotencyKey": "req-1/ticket" } },
      },
    ]);
  });

  it.each([
    ["text that is not JSON", "{subject:"],
    ["JSON null", "null"],
    ["a JSON string", '"subject"'],
  ])("arguments that are %s fail without calling the tool", async (_, text) => {
    const invoker = fakeInvoker({ status: "SUCCEEDED", output: "{}" });
    const result = await run(call({ arguments: text }), invoker);
    expect(invoker.invocations).toEqual([]);
    expect(result).toMatchObject({ status: "FAILED", output: null, error: "arguments are not a JSON object" });
  });
});
