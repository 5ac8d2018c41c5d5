import { describe, expect, it } from "vitest";
import { toolCallErrorType, toolCallStartAttributes } from "./tool-call-attributes.ts";

describe("tool call span attributes", () => {
  it("name the call as the GenAI execute_tool and MCP tools/call conventions say, the idempotency key as its call id", () => {
    expect(
      toolCallStartAttributes({ tool: "ticketing/create_ticket", idempotencyKey: "run-1/2", sessionId: "s-9" }),
    ).toEqual({
      "mcp.method.name": "tools/call",
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": "ticketing/create_ticket",
      "gen_ai.tool.call.id": "run-1/2",
      "mcp.session.id": "s-9",
    });
    expect(toolCallStartAttributes({ tool: "kb/search", idempotencyKey: undefined, sessionId: undefined })).toEqual({
      "mcp.method.name": "tools/call",
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": "kb/search",
    });
  });

  it("a result with isError is a tool_error; a timeout, a transport failure and a thrown error say so", () => {
    expect(toolCallErrorType({ status: "SUCCEEDED" })).toBeUndefined();
    expect(toolCallErrorType({ status: "FAILED", transient: false })).toBe("tool_error");
    expect(toolCallErrorType({ status: "FAILED", transient: true })).toBe("transport_error");
    expect(toolCallErrorType({ status: "TIMED_OUT" })).toBe("timeout");
    expect(toolCallErrorType({ status: "THREW", error: new TypeError("x") })).toBe("TypeError");
    expect(toolCallErrorType({ status: "THREW", error: "x" })).toBe("_OTHER");
  });
});
