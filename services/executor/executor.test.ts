import { describe, it, expect } from "vitest";
import type { ToolCall, ToolResult } from "../../shared/schemas/records.ts";
import { BatonError } from "../../shared/errors.ts";
import { executeCall, type ExecutionContext } from "./executor.ts";
import type { ToolCallOutcome, ToolInvoker } from "./mcp-connections.ts";
import type { ToolSettings } from "./servers-file.ts";
import { ToolGuard } from "./tool-guard.ts";

interface Invocation {
  tool: string;
  args: unknown;
  options: { timeoutMs: number; meta: Record<string, string> };
}

/** A ToolInvoker answering per tool from a script, remembering what it was asked. */
function fakeInvoker(script: Record<string, ToolCallOutcome>): ToolInvoker & { invocations: Invocation[] } {
  const invocations: Invocation[] = [];
  return {
    invocations,
    call(tool, args, options) {
      invocations.push({ tool, args, options });
      const outcome = script[tool];
      if (outcome === undefined) throw new Error(`no scripted outcome for ${tool}`);
      return Promise.resolve(outcome);
    },
  };
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
    attempt: 1,
    timeoutMs: 7_500,
    dispatchedAt: 1_000,
    deadlineAt: null,
    fallbackFor: null,
    ...fields,
  };
}

function context(
  tools: ToolInvoker,
  options: {
    attempt?: number;
    settings?: Record<string, ToolSettings>;
    recorded?: Record<string, ToolResult>;
    guard?: ToolGuard;
    /** Tools with side effects (the rest are idempotent). */
    sideEffects?: string[];
    started?: string[];
    intents?: ToolCall[];
  } = {},
): ExecutionContext {
  const settings = (tool: string): ToolSettings => options.settings?.[tool] ?? {};
  let time = 10_000;
  return {
    tools,
    guard: options.guard ?? new ToolGuard(settings),
    settings,
    recorded: (key) => options.recorded?.[key],
    started: (key) => options.started?.includes(key) ?? false,
    recordIntent: (intended) => {
      options.intents?.push(intended);
      return Promise.resolve();
    },
    isIdempotent: (tool) => !(options.sideEffects ?? []).includes(tool),
    attempt: options.attempt ?? 1,
    defaultRetryDelaysMs: [1_000, 10_000, 60_000],
    now: () => (time += 25),
    traceHeaders,
  };
}

function resultOf(messages: Awaited<ReturnType<typeof executeCall>>): ToolResult {
  const result = messages.find((message) => message.topic === "baton.tool-results");
  if (result === undefined) throw new Error("no result");
  return result.value as ToolResult;
}

const success: ToolCallOutcome = { status: "SUCCEEDED", output: JSON.stringify({ ticketId: "TCK-000123" }) };

describe("executeCall", () => {
  it("a successful call reports SUCCEEDED and records the outcome under its idempotency key", async () => {
    const messages = await executeCall(call(), context(fakeInvoker({ "ticketing/create_ticket": success })));
    expect(messages.map((message) => [message.topic, message.key])).toEqual([
      ["baton.tool-results", "req-1"],
      ["baton.tool-outcomes", "req-1/ticket"],
    ]);
    expect(resultOf(messages)).toMatchObject({
      status: "SUCCEEDED",
      output: success.status === "SUCCEEDED" ? success.output : "",
      attempts: 1,
      durationMs: 25,
    });
    expect(messages[1]?.value).toEqual(messages[0]?.value);
  });

  it("a call whose outcome is already recorded is answered from the record and never reaches the tool again", async () => {
    const invoker = fakeInvoker({ "ticketing/create_ticket": success });
    const earlier: ToolResult = {
      requestId: "req-1",
      stepId: "ticket",
      tool: "ticketing/create_ticket",
      status: "SUCCEEDED",
      output: '{"ticketId":"TCK-000001"}',
      error: null,
      attempts: 1,
      durationMs: 9,
      completedAt: 5,
      fallbackTool: null,
    };
    const messages = await executeCall(call(), context(invoker, { recorded: { "req-1/ticket": earlier } }));
    expect(invoker.invocations).toHaveLength(0);
    expect(messages).toEqual([{ topic: "baton.tool-results", key: "req-1", value: earlier }]);
  });

  it("the tool receives the trace context and the idempotency key in _meta, and the tool's own timeout wins over the step's", async () => {
    const invoker = fakeInvoker({ "ticketing/create_ticket": success });
    await executeCall(call(), context(invoker, { settings: { "ticketing/create_ticket": { timeoutMs: 2_000 } } }));
    expect(invoker.invocations[0]?.options).toEqual({
      timeoutMs: 2_000,
      meta: { ...traceHeaders, "baton/idempotencyKey": "req-1/ticket" },
    });
    await executeCall(call(), context(invoker));
    expect(invoker.invocations[1]?.options.timeoutMs).toBe(7_500);
  });

  it("the tool's own error is a FAILED result and is not retried", async () => {
    const invoker = fakeInvoker({
      "ticketing/create_ticket": { status: "FAILED", error: "priority must be low|normal|high", transient: false },
    });
    const result = resultOf(await executeCall(call(), context(invoker)));
    expect(result).toMatchObject({ status: "FAILED", error: "priority must be low|normal|high" });
  });

  it("a timeout with rungs left on the ladder is thrown as retriable with the tool's ladder, and the last attempt reports TIMED_OUT", async () => {
    const timedOut: ToolCallOutcome = {
      status: "TIMED_OUT",
      error: "ticketing/create_ticket did not answer within 7500 ms",
    };
    const settings = { "ticketing/create_ticket": { retryDelaysMs: [1_000, 1_000] } };
    const thrown = await executeCall(
      call(),
      context(fakeInvoker({ "ticketing/create_ticket": timedOut }), { settings }),
    ).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(thrown).toBeInstanceOf(BatonError);
    expect(thrown).toMatchObject({ code: "TIMEOUT", retriable: true, details: { retryDelaysMs: [1_000, 1_000] } });
    await expect(
      executeCall(call(), context(fakeInvoker({ "ticketing/create_ticket": timedOut }), { settings, attempt: 2 })),
    ).rejects.toBeInstanceOf(BatonError);
    const last = resultOf(
      await executeCall(
        call(),
        context(fakeInvoker({ "ticketing/create_ticket": timedOut }), { settings, attempt: 3 }),
      ),
    );
    expect(last).toMatchObject({ status: "TIMED_OUT", attempts: 3, error: timedOut.error });
  });

  it("arguments that are not a JSON object fail without calling the tool", async () => {
    const invoker = fakeInvoker({ "ticketing/create_ticket": success });
    for (const bad of ["not json", "[1,2]", "null"]) {
      const result = resultOf(await executeCall(call({ arguments: bad }), context(invoker)));
      expect(result).toMatchObject({ status: "FAILED", error: "arguments are not a JSON object" });
    }
    expect(invoker.invocations).toHaveLength(0);
  });

  it("after repeated transient failures the breaker opens: the result names the fallback, which is not called here", async () => {
    const broken: ToolCallOutcome = { status: "FAILED", error: "connection closed", transient: true };
    const settings: Record<string, ToolSettings> = {
      "ticketing/create_ticket": {
        breaker: { failures: 2, halfOpenAfterMs: 60_000 },
        fallback: "backup/create_ticket",
        retryDelaysMs: [],
      },
      "outbox/send_email": { breaker: { failures: 1, halfOpenAfterMs: 60_000 }, retryDelaysMs: [] },
    };
    const invoker = fakeInvoker({
      "ticketing/create_ticket": broken,
      "backup/create_ticket": success,
      "outbox/send_email": broken,
    });
    const guard = new ToolGuard((tool) => settings[tool] ?? {});
    const shared = { settings, guard };
    expect(resultOf(await executeCall(call(), context(invoker, shared))).status).toBe("FAILED");
    expect(resultOf(await executeCall(call(), context(invoker, shared))).status).toBe("FAILED");
    expect(guard.breakerStates().get("ticketing/create_ticket")).toBe("open");
    const open = await executeCall(call(), context(invoker, shared));
    expect(resultOf(open)).toMatchObject({
      status: "FAILED",
      fallbackTool: "backup/create_ticket",
      error:
        "the circuit breaker of ticketing/create_ticket is open after repeated failures; its fallback backup/create_ticket runs instead",
    });
    // Recorded under the primary's key, so a redelivery of the primary gets the same answer.
    expect(open.find((message) => message.topic === "baton.tool-outcomes")?.key).toBe("req-1/ticket");
    expect(invoker.invocations.map((invocation) => invocation.tool)).toEqual([
      "ticketing/create_ticket",
      "ticketing/create_ticket",
    ]);

    // The fallback's own call (dispatched by the planner) never falls back further.
    const asFallback = call({
      stepId: "ticket~fallback",
      idempotencyKey: "req-1/ticket~fallback",
      fallbackFor: "ticket",
    });
    const noChain = resultOf(await executeCall(asFallback, context(invoker, shared)));
    expect(noChain).toMatchObject({ status: "FAILED", fallbackTool: null });
    expect(noChain.error).toContain("a fallback has no fallback of its own");

    const email = call({ tool: "outbox/send_email", stepId: "notify", idempotencyKey: "req-1/notify" });
    await executeCall(email, context(invoker, shared));
    const fast = resultOf(await executeCall(email, context(invoker, shared)));
    expect(fast.status).toBe("FAILED");
    expect(fast.error).toBe(
      "the circuit breaker of outbox/send_email is open after repeated failures; failing fast (no fallback configured)",
    );
    expect(invoker.invocations.filter((invocation) => invocation.tool === "outbox/send_email")).toHaveLength(1);
  });

  it("a concurrency limit keeps calls of one tool from running more than the limit at once", async () => {
    let running = 0;
    let most = 0;
    const slow: ToolInvoker = {
      async call() {
        running += 1;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 20));
        running -= 1;
        return success;
      },
    };
    const settings = { "ticketing/create_ticket": { concurrency: 2 } };
    const guard = new ToolGuard((tool) => (settings as Record<string, ToolSettings>)[tool] ?? {});
    await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        executeCall(call({ idempotencyKey: `req-1/t${index}` }), context(slow, { settings, guard })),
      ),
    );
    expect(most).toBe(2);
  });

  it("a tool with side effects gets its intent recorded before the call, and is not called again once an attempt started", async () => {
    const invoker = fakeInvoker({ "outbox/send_email": success });
    const intents: ToolCall[] = [];
    const email = call({ tool: "outbox/send_email", stepId: "notify", idempotencyKey: "req-1/notify" });
    await executeCall(email, context(invoker, { sideEffects: ["outbox/send_email"], intents }));
    expect(intents).toEqual([email]);
    expect(invoker.invocations).toHaveLength(1);

    const again = resultOf(
      await executeCall(
        email,
        context(invoker, { sideEffects: ["outbox/send_email"], started: ["req-1/notify"], attempt: 2 }),
      ),
    );
    expect(invoker.invocations).toHaveLength(1);
    expect(again).toMatchObject({ status: "FAILED", attempts: 2 });
    expect(again.error).toContain("outcome is unknown; not repeated so its side effect cannot happen twice");
  });

  it("a timeout of a tool with side effects is reported, not retried", async () => {
    const timedOut: ToolCallOutcome = { status: "TIMED_OUT", error: "outbox/send_email did not answer within 7500 ms" };
    const email = call({ tool: "outbox/send_email", stepId: "notify", idempotencyKey: "req-1/notify" });
    const result = resultOf(
      await executeCall(
        email,
        context(fakeInvoker({ "outbox/send_email": timedOut }), { sideEffects: ["outbox/send_email"] }),
      ),
    );
    expect(result).toMatchObject({ status: "TIMED_OUT", attempts: 1 });
  });
});
