import type { OutgoingMessage, RawOutgoingMessage } from "../../shared/kafka/producer.ts";
import type {
  ApprovalDecision,
  ApprovalRequest,
  Draft,
  PolicyDecision,
  Response,
  ToolCall,
  ToolResult,
} from "../../shared/schemas/records.ts";
import { evaluate, lookup } from "../../shared/templates.ts";
import { toolMatches, type Policy } from "../../shared/policy-file.ts";
import { redactPii } from "./redaction.ts";
import { callDigest, decisionMismatch } from "./approval-check.ts";
import type { WriterCheck } from "../../shared/security/principals.ts";

/** Topics the policy stage writes. */
export const policyTopics = {
  allowedCalls: "baton.allowed-calls",
  toolResults: "baton.tool-results",
  approvalRequests: "baton.approval-requests",
  decisions: "baton.policy-decisions",
  responses: "baton.responses",
} as const;

/** The policy stage's answer to one message. */
export interface PolicyOutcome {
  messages: OutgoingMessage[];
  /** Tombstones for answered approval requests. */
  rawMessages: RawOutgoingMessage[];
  /** A call that starts or stops waiting for a person: the stage's table of waiting calls follows it. */
  approvalState?: { key: string; value: ApprovalRequest | null };
}

/** The key of an approval request on its compacted topic. */
export function approvalKey(requestId: string, stepId: string): string {
  return `${requestId}/${stepId}`;
}

type Verdict =
  | { action: "ALLOW"; ruleId: string | null; reason: string }
  | { action: "DENY"; ruleId: string; reason: string }
  | { action: "WAIT"; ruleId: string; reason: string };

function parseArguments(call: ToolCall): unknown {
  try {
    return JSON.parse(call.arguments);
  } catch {
    return undefined;
  }
}

/** Decides one planned call: deny list, allow list, argument constraints, then approvals. */
export function judgeCall(call: ToolCall, policy: Policy): Verdict {
  const tenant = policy.tenants[call.tenant];
  if (tenant === undefined)
    return { action: "DENY", ruleId: "unknown-tenant", reason: `tenant ${call.tenant} has no policy` };
  const denied = tenant.tools.deny.find((pattern) => toolMatches(pattern, call.tool));
  if (denied !== undefined) {
    return {
      action: "DENY",
      ruleId: "tool-denied",
      reason: `${call.tool} is denied for tenant ${call.tenant} (${denied})`,
    };
  }
  if (!tenant.tools.allow.some((pattern) => toolMatches(pattern, call.tool))) {
    return {
      action: "DENY",
      ruleId: "tool-not-allowed",
      reason: `${call.tool} is not allowed for tenant ${call.tenant}`,
    };
  }
  const args = parseArguments(call);
  if (args === undefined)
    return { action: "DENY", ruleId: "arguments-not-json", reason: "arguments are not a JSON object" };
  for (const rule of tenant.arguments) {
    if (!toolMatches(rule.tool, call.tool)) continue;
    const value = lookup(args, rule.path);
    const broken = argumentRuleBroken(rule, value);
    if (broken !== undefined)
      return { action: "DENY", ruleId: rule.id, reason: rule.reason ?? `${rule.path} ${broken}` };
  }
  for (const rule of tenant.approvals) {
    if (!toolMatches(rule.tool, call.tool)) continue;
    if (rule.when === undefined || evaluate(rule.when, { arguments: args, tenant: call.tenant })) {
      return { action: "WAIT", ruleId: rule.id, reason: rule.reason };
    }
  }
  return { action: "ALLOW", ruleId: null, reason: `${call.tool} is allowed for tenant ${call.tenant}` };
}

function argumentRuleBroken(rule: Policy["tenants"][string]["arguments"][number], value: unknown): string | undefined {
  if (rule.oneOf !== undefined && !rule.oneOf.includes(value)) return `must be one of ${JSON.stringify(rule.oneOf)}`;
  if (rule.pattern !== undefined && (typeof value !== "string" || !new RegExp(rule.pattern, "u").test(value))) {
    return `must match ${rule.pattern}`;
  }
  if (rule.max !== undefined && (typeof value !== "number" || value > rule.max)) return `must be at most ${rule.max}`;
  if (rule.min !== undefined && (typeof value !== "number" || value < rule.min)) return `must be at least ${rule.min}`;
  if (rule.maxLength !== undefined && (typeof value !== "string" || value.length > rule.maxLength)) {
    return `must be at most ${rule.maxLength} characters`;
  }
  return undefined;
}

function decision(
  call: Pick<ToolCall, "requestId" | "tenant" | "stepId" | "tool">,
  fields: Pick<PolicyDecision, "action" | "ruleId" | "reason">,
  now: number,
  subject: PolicyDecision["subject"] = "TOOL_CALL",
): OutgoingMessage {
  const value: PolicyDecision = {
    requestId: call.requestId,
    tenant: call.tenant,
    stepId: call.stepId,
    tool: call.tool,
    subject,
    action: fields.action,
    ruleId: fields.ruleId,
    reason: fields.reason,
    decidedAt: now,
  };
  return { topic: policyTopics.decisions, key: call.requestId, value };
}

function deniedResult(call: ToolCall, error: string, now: number): OutgoingMessage {
  const value: ToolResult = {
    requestId: call.requestId,
    stepId: call.stepId,
    tool: call.tool,
    status: "DENIED",
    output: null,
    error,
    attempts: 0,
    durationMs: 0,
    completedAt: now,
    fallbackTool: null,
  };
  return { topic: policyTopics.toolResults, key: call.requestId, value };
}

function callOf(source: ToolCall): ToolCall {
  return {
    requestId: source.requestId,
    tenant: source.tenant,
    stepId: source.stepId,
    tool: source.tool,
    arguments: source.arguments,
    idempotencyKey: source.idempotencyKey,
    attempt: source.attempt,
    timeoutMs: source.timeoutMs,
    dispatchedAt: source.dispatchedAt,
    deadlineAt: source.deadlineAt,
    fallbackFor: source.fallbackFor,
  };
}

/** A planned call: allowed calls go to the executor, denied ones come back as DENIED results, others wait for a person. */
export function checkCall(call: ToolCall, policy: Policy, now: number): PolicyOutcome {
  const verdict = judgeCall(call, policy);
  const audit = decision(call, verdict, now);
  if (verdict.action === "ALLOW") {
    return {
      messages: [{ topic: policyTopics.allowedCalls, key: call.requestId, value: callOf(call) }, audit],
      rawMessages: [],
    };
  }
  if (verdict.action === "DENY") {
    return {
      messages: [deniedResult(call, `denied by policy rule ${verdict.ruleId}: ${verdict.reason}`, now), audit],
      rawMessages: [],
    };
  }
  const pending: ApprovalRequest = {
    ...callOf(call),
    callDigest: callDigest(call),
    ruleId: verdict.ruleId,
    reason: verdict.reason,
    requestedAt: now,
  };
  const key = approvalKey(call.requestId, call.stepId);
  return {
    messages: [{ topic: policyTopics.approvalRequests, key, value: pending }, audit],
    rawMessages: [],
    approvalState: { key, value: pending },
  };
}

/**
 * A person's decision, applied only to the call policy itself put up for approval and that still waits: matched by
 * idempotency key and the digest of its tool and arguments, before the run's deadline, and checked against the
 * rules again now. The call that runs is the waiting one, never the decision's copy. A decision that matches no
 * waiting call (forged, repeated, late) runs nothing and is recorded on the audit topic with the reason.
 */
export function applyApproval(
  answer: ApprovalDecision,
  waiting: ApprovalRequest | undefined,
  policy: Policy,
  now: number,
  writer: WriterCheck = { unchecked: true },
): PolicyOutcome {
  const key = approvalKey(answer.requestId, answer.stepId);
  // With principals declared, the approver is whoever signed the decision, not what the decision says.
  const approver = "principal" in writer ? writer.principal : answer.approver;
  const mismatch = "problem" in writer ? writer.problem : decisionMismatch(answer, waiting, now);
  if (mismatch !== undefined || waiting === undefined) {
    const refusal = decision(
      { ...answer, tenant: waiting?.tenant ?? answer.tenant },
      {
        action: "REFUSE",
        ruleId: "problem" in writer ? "approver-not-allowed" : "approval-not-matched",
        reason:
          "problem" in writer
            ? `decision refused: ${writer.problem} (it names approver ${answer.approver})`
            : `decision by ${approver} refused: ${mismatch}`,
      },
      now,
      "APPROVAL",
    );
    // A waiting call whose run is over can never run: it stops waiting.
    const expired =
      !("problem" in writer) && waiting !== undefined && waiting.deadlineAt !== null && now > waiting.deadlineAt;
    return {
      messages: [refusal],
      rawMessages: expired ? [{ topic: policyTopics.approvalRequests, key, value: null }] : [],
      ...(expired ? { approvalState: { key, value: null } } : {}),
    };
  }
  const call = callOf(waiting);
  const tombstone: RawOutgoingMessage = { topic: policyTopics.approvalRequests, key, value: null };
  const by = `${approver}${answer.comment === null ? "" : `: ${answer.comment}`}`;
  if (!answer.approved) {
    return {
      messages: [
        deniedResult(call, `rejected by ${by}`, now),
        decision(call, { action: "REJECTED", ruleId: null, reason: `rejected by ${by}` }, now),
      ],
      rawMessages: [tombstone],
      approvalState: { key, value: null },
    };
  }
  // The rules may have changed while the call waited (a policy deploy): a call they now deny does not run.
  const verdict = judgeCall(call, policy);
  if (verdict.action === "DENY") {
    return {
      messages: [
        deniedResult(call, `denied by policy rule ${verdict.ruleId} when approved by ${by}: ${verdict.reason}`, now),
        decision(call, { ...verdict, reason: `approved by ${by}, but now denied: ${verdict.reason}` }, now),
      ],
      rawMessages: [tombstone],
      approvalState: { key, value: null },
    };
  }
  return {
    messages: [
      { topic: policyTopics.allowedCalls, key: call.requestId, value: call },
      decision(call, { action: "APPROVED", ruleId: waiting.ruleId, reason: `approved by ${by}` }, now),
    ],
    rawMessages: [tombstone],
    approvalState: { key, value: null },
  };
}

/** An answer before it leaves: personal data redacted, blocked content withheld, compliance text appended. */
export function checkAnswer(draft: Draft, policy: Policy, now: number): PolicyOutcome {
  const audits: PolicyDecision[] = [];
  const audit = (action: PolicyDecision["action"], ruleId: string | null, reason: string): void => {
    audits.push({
      requestId: draft.requestId,
      tenant: draft.tenant,
      stepId: null,
      tool: null,
      subject: "ANSWER",
      action,
      ruleId,
      reason,
      decidedAt: now,
    });
  };
  let answer = draft.answer;
  let status = draft.status;
  let error = draft.error;
  if (answer !== null) {
    const blocked = policy.answers.block.find((rule) => new RegExp(rule.pattern, "iu").test(answer ?? ""));
    if (blocked !== undefined) {
      audit("BLOCK", blocked.id, blocked.reason);
      answer = null;
      status = "REFUSED";
      error = `answer withheld by policy rule ${blocked.id}: ${blocked.reason}`;
    } else {
      const redaction = redactPii(answer, policy.answers.redact);
      for (const [kind, count] of Object.entries(redaction.found)) {
        audit("REDACT", `pii-${kind}`, `${count} ${kind}${count === 1 ? "" : "s"} redacted`);
      }
      answer = redaction.text;
      for (const rule of policy.answers.compliance) {
        if (new RegExp(rule.pattern, "iu").test(answer)) {
          answer = `${answer}\n\n${rule.append}`;
          audit("APPEND", rule.id, "compliance text appended");
        }
      }
    }
  }
  if (audits.length === 0) audit("ALLOW", null, "answer passed every rule");
  const response: Response = {
    requestId: draft.requestId,
    status,
    answer,
    steps: draft.steps,
    error,
    completedAt: now,
  };
  return {
    messages: [
      { topic: policyTopics.responses, key: draft.requestId, value: response },
      ...audits.map((value) => ({ topic: policyTopics.decisions, key: draft.requestId, value })),
    ],
    rawMessages: [],
  };
}
