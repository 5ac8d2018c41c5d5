import { createHash } from "node:crypto";
import { canonicalJson } from "../../../shared/security/record-signature.ts";

/** The `_meta` key a client sets to name a call, so its retries (from any session or gateway) are one run. */
export const idempotencyMetaKey = "baton/idempotency-key";

/** What makes two MCP tool calls the same run. */
export interface CallIdentity {
  tenant: string;
  /** The MCP tool called (`run_workflow`, `<server>.<tool>`). */
  tool: string;
  arguments: unknown;
  /** The client's idempotency key, when it gave one (`_meta["baton/idempotency-key"]`). */
  idempotencyKey?: string | undefined;
  /** The MCP session (Streamable HTTP's Mcp-Session-Id, or one per `baton mcp` process). */
  sessionId: string;
}

/**
 * The requestId of an MCP tool call. A client that times out and calls again sends a new JSON-RPC request (a new
 * id) with the same tool and arguments, in the same session: so the requestId is derived from the tenant, the tool,
 * the arguments and the client's idempotency key, or, without one, the session. The same call again is the same
 * request, which the planner runs once; a fresh key (or a new session) is a new run.
 */
export function requestIdOf(call: CallIdentity): string {
  const scope =
    call.idempotencyKey !== undefined && call.idempotencyKey !== ""
      ? { key: call.idempotencyKey }
      : { session: call.sessionId };
  const digest = createHash("sha256")
    .update(canonicalJson({ tenant: call.tenant, tool: call.tool, arguments: call.arguments ?? null, ...scope }))
    .digest("hex");
  return `mcp-${digest.slice(0, 32)}`;
}
