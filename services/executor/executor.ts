import type { OutgoingMessage } from "../../shared/kafka/producer.ts";
import type { ToolCall, ToolResult } from "../../shared/schemas/records.ts";
import type { ToolInvoker } from "./mcp-connections.ts";

/** The topic the executor writes. */
export const executorTopics = { toolResults: "baton.tool-results" } as const;

/** Runs one cleared call on its MCP server and reports the result; a tool's failure is a result, not a crash. */
export async function executeCall(
  call: ToolCall,
  tools: ToolInvoker,
  options: { now: () => number; traceHeaders: Record<string, string> },
): Promise<OutgoingMessage> {
  const started = options.now();
  let args: unknown;
  try {
    args = JSON.parse(call.arguments);
  } catch {
    args = undefined;
  }
  const outcome =
    args === undefined || args === null || typeof args !== "object" || Array.isArray(args)
      ? { status: "FAILED" as const, error: "arguments are not a JSON object" }
      : await tools.call(call.tool, args, {
          timeoutMs: call.timeoutMs,
          meta: { ...options.traceHeaders, "baton/idempotencyKey": call.idempotencyKey },
        });
  const finished = options.now();
  const result: ToolResult = {
    requestId: call.requestId,
    stepId: call.stepId,
    tool: call.tool,
    status: outcome.status,
    output: outcome.status === "SUCCEEDED" ? outcome.output : null,
    error: outcome.status === "SUCCEEDED" ? null : outcome.error,
    attempts: call.attempt,
    durationMs: finished - started,
    completedAt: finished,
  };
  return { topic: executorTopics.toolResults, key: call.requestId, value: result };
}
