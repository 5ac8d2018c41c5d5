import { createHash } from "node:crypto";
import type { ApprovalDecision, ApprovalRequest, ToolCall } from "../../shared/schemas/records.ts";

/**
 * The digest that ties a person's decision to the one call it decides: sha256 of the tool and its arguments
 * exactly as policy saw them, hex. An approval request carries it; `baton approve` copies it into the decision.
 */
export function callDigest(call: Pick<ToolCall, "tool" | "arguments">): string {
  return createHash("sha256").update(call.tool).update("\n").update(call.arguments).digest("hex");
}

/** Why a decision cannot be applied, or undefined when it answers the call that waits. */
export function decisionMismatch(
  decision: ApprovalDecision,
  waiting: ApprovalRequest | undefined,
  now: number,
): string | undefined {
  if (waiting === undefined) {
    return "no call waits for this approval: it was never requested by policy, or it was already decided";
  }
  if (decision.idempotencyKey !== waiting.idempotencyKey) {
    return `the decision is for idempotency key ${decision.idempotencyKey}, the waiting call has ${waiting.idempotencyKey}`;
  }
  const digest = callDigest(waiting);
  // A call that waited since before digests existed is matched on its tool and arguments alone (below).
  const digestExpected = waiting.callDigest !== null || decision.callDigest !== null;
  if (digestExpected && decision.callDigest !== digest) {
    return decision.callDigest === null
      ? "the decision carries no call digest, so it cannot be matched to the waiting call"
      : "the decision's call digest does not match the waiting call's tool and arguments";
  }
  if (decision.tool !== waiting.tool || decision.arguments !== waiting.arguments) {
    return "the decision names another tool or other arguments than the waiting call";
  }
  if (waiting.deadlineAt !== null && now > waiting.deadlineAt) {
    return `too late: the run's deadline passed at ${new Date(waiting.deadlineAt).toISOString()}`;
  }
  return undefined;
}
