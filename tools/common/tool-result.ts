import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

/** A successful tool result: a one-line text summary for people and models, and the structured value. */
export function toolResult(summary: string, structured: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text: summary }], structuredContent: structured };
}

/** A tool error the caller sees as `isError: true`, for bad business input or an injected fault. */
export function toolError(message: string): CallToolResult {
  return { content: [{ type: "text", text: message }], isError: true };
}
