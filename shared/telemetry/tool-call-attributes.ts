import type { Attributes } from "@opentelemetry/api";

/** How a tool call ended, as far as its span needs to know. */
export type ToolCallEnd =
  | { status: "SUCCEEDED" }
  /** `transient`: the call failed on its way (transport, crash); otherwise the tool said so (`isError`). */
  | { status: "FAILED"; transient: boolean }
  | { status: "TIMED_OUT" }
  | { status: "THREW"; error: unknown };

/**
 * The attributes of a tool call's CLIENT span (`tools/call {tool}`) when it starts, per the OpenTelemetry GenAI
 * (execute_tool) and MCP client conventions; the call's idempotency key is its gen_ai.tool.call.id.
 */
export function toolCallStartAttributes(call: {
  tool: string;
  idempotencyKey: string | undefined;
  sessionId: string | undefined;
}): Attributes {
  return {
    "mcp.method.name": "tools/call",
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.tool.name": call.tool,
    ...(call.idempotencyKey === undefined ? {} : { "gen_ai.tool.call.id": call.idempotencyKey }),
    ...(call.sessionId === undefined ? {} : { "mcp.session.id": call.sessionId }),
  };
}

/**
 * The `error.type` of a tool call that did not succeed: `tool_error` when the tool answered with `isError` (the MCP
 * convention), `timeout`, `transport_error` when it failed on its way, or the thrown error's name.
 */
export function toolCallErrorType(end: ToolCallEnd): string | undefined {
  switch (end.status) {
    case "SUCCEEDED":
      return undefined;
    case "FAILED":
      return end.transient ? "transport_error" : "tool_error";
    case "TIMED_OUT":
      return "timeout";
    case "THREW":
      return end.error instanceof Error ? end.error.name : "_OTHER";
  }
}
