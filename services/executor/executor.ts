import { BatonError } from "../../shared/errors.ts";
import type { OutgoingMessage } from "../../shared/kafka/producer.ts";
import type { ToolCall, ToolResult } from "../../shared/schemas/records.ts";
import type { ToolCallOutcome, ToolInvoker } from "./mcp-connections.ts";
import type { ToolSettings } from "./servers-file.ts";
import { CircuitOpenError, isTransient, type ToolGuard } from "./tool-guard.ts";

/** Topics the executor writes: results for the planner, and the record of each idempotency key's outcome. */
export const executorTopics = {
  toolResults: "baton.tool-results",
  toolOutcomes: "baton.tool-outcomes",
  toolIntents: "baton.tool-intents",
} as const;

/** What executing a call needs besides the call. */
export interface ExecutionContext {
  tools: ToolInvoker;
  guard: ToolGuard;
  settings(tool: string): ToolSettings;
  /** The outcome already recorded for an idempotency key, if the call ran before. */
  recorded(idempotencyKey: string): ToolResult | undefined;
  /** Whether a call with this key was started before (its intent is recorded) without a recorded outcome. */
  started(idempotencyKey: string): boolean;
  /** Records, and waits until Kafka has, that a call of a tool with side effects is about to run. */
  recordIntent(call: ToolCall): Promise<void>;
  /** Whether calling the tool twice is safe (its MCP annotations say read-only or idempotent). */
  isIdempotent(tool: string): boolean;
  /** Which delivery of the call this is (1 first, then one more per retry). */
  attempt: number;
  /** The executor's retry ladder, used when a tool sets none of its own. */
  defaultRetryDelaysMs: readonly number[];
  now(): number;
  traceHeaders: Record<string, string>;
}

function parseArguments(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs one cleared call on its MCP server, at most once per idempotency key: a call whose outcome is recorded
 * (a redelivery, a retry, a redrive) is answered from the record. A tool with side effects (its MCP annotations
 * say neither read-only nor idempotent) gets an intent recorded before the call and is never called again for
 * the same key: an unknown outcome is reported, not repeated. A read-only or idempotent tool's timeout or
 * transport failure is retried through the retry topics while its ladder has rungs left. An open breaker fails
 * fast, naming the tool's fallback when it has one (the planner then dispatches it as a step of its own). The tool's own error is a FAILED result, not retried.
 */
export async function executeCall(call: ToolCall, context: ExecutionContext): Promise<OutgoingMessage[]> {
  const recorded = context.recorded(call.idempotencyKey);
  if (recorded !== undefined) return [{ topic: executorTopics.toolResults, key: call.requestId, value: recorded }];

  const started = context.now();
  const settings = context.settings(call.tool);
  const idempotent = context.isIdempotent(call.tool);
  if (!idempotent && context.started(call.idempotencyKey)) {
    // An earlier attempt started and its outcome is unknown (the executor stopped, or the call timed out):
    // calling again could do the side effect twice, so report it instead.
    return finish(call, context, started, {
      status: "FAILED",
      error: `an earlier attempt of ${call.tool} started and its outcome is unknown; not repeated so its side effect cannot happen twice`,
      transient: false,
    });
  }
  const args = parseArguments(call.arguments);
  const invoke = (tool: string): Promise<ToolCallOutcome> =>
    context.guard.run(tool, () =>
      context.tools.call(tool, args ?? {}, {
        timeoutMs: context.settings(tool).timeoutMs ?? call.timeoutMs,
        meta: { ...context.traceHeaders, "baton/idempotencyKey": call.idempotencyKey },
      }),
    );
  let outcome: ToolCallOutcome;
  if (args === undefined) {
    outcome = { status: "FAILED", error: "arguments are not a JSON object", transient: false };
  } else {
    if (!idempotent) await context.recordIntent(call);
    try {
      outcome = await invoke(call.tool);
    } catch (error) {
      if (!(error instanceof CircuitOpenError)) throw error;
      // The fallback is not called here: the planner dispatches it as its own step, so policy judges it for the
      // tenant and it gets its own idempotency key (and intent record, if it has side effects).
      if (settings.fallback !== undefined && call.fallbackFor === null) {
        return finish(
          call,
          context,
          started,
          {
            status: "FAILED",
            error: `${error.message}; its fallback ${settings.fallback} runs instead`,
            transient: false,
          },
          settings.fallback,
        );
      }
      const why = call.fallbackFor === null ? "no fallback configured" : "a fallback has no fallback of its own";
      outcome = { status: "FAILED", error: `${error.message}; failing fast (${why})`, transient: false };
    }
  }

  const ladder = settings.retryDelaysMs ?? context.defaultRetryDelaysMs;
  if (isTransient(outcome) && idempotent && context.attempt <= ladder.length) {
    throw new BatonError("TIMEOUT", outcome.status === "SUCCEEDED" ? "" : outcome.error, {
      details: { retryDelaysMs: ladder, tool: call.tool },
    });
  }
  return finish(call, context, started, outcome);
}

function finish(
  call: ToolCall,
  context: ExecutionContext,
  started: number,
  outcome: ToolCallOutcome,
  fallbackTool: string | null = null,
): OutgoingMessage[] {
  const finished = context.now();
  const result: ToolResult = {
    requestId: call.requestId,
    stepId: call.stepId,
    tool: call.tool,
    status: outcome.status,
    output: outcome.status === "SUCCEEDED" ? outcome.output : null,
    error: outcome.status === "SUCCEEDED" ? null : outcome.error,
    attempts: context.attempt,
    durationMs: finished - started,
    completedAt: finished,
    fallbackTool,
  };
  return [
    { topic: executorTopics.toolResults, key: call.requestId, value: result },
    { topic: executorTopics.toolOutcomes, key: call.idempotencyKey, value: result },
  ];
}
