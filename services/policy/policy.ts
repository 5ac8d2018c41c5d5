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
): OutgoingMessage {
  const value: PolicyDecision = {
    requestId: call.requestId,
    tenant: call.tenant,
    stepId: call.stepId,
    tool: call.tool,
    subject: "TOOL_CALL",
    ...fields,
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
    callDigest: null,
    ruleId: verdict.ruleId,
    reason: verdict.reason,
    requestedAt: now,
  };
  return {
    messages: [
      { topic: policyTopics.approvalRequests, key: approvalKey(call.requestId, call.stepId), value: pending },
      audit,
    ],
    rawMessages: [],
  };
}

/** A person's decision: an approved call goes to the executor, a rejected one comes back as DENIED. */
export function applyApproval(answer: ApprovalDecision, now: number): PolicyOutcome {
  const call = callOf(answer);
  const tombstone: RawOutgoingMessage = {
    topic: policyTopics.approvalRequests,
    key: approvalKey(answer.requestId, answer.stepId),
    value: null,
  };
  const by = `${answer.approver}${answer.comment === null ? "" : `: ${answer.comment}`}`;
  if (answer.approved) {
    return {
      messages: [
        { topic: policyTopics.allowedCalls, key: call.requestId, value: call },
        decision(call, { action: "APPROVED", ruleId: null, reason: `approved by ${by}` }, now),
      ],
      rawMessages: [tombstone],
    };
  }
  return {
    messages: [
      deniedResult(call, `rejected by ${by}`, now),
      decision(call, { action: "REJECTED", ruleId: null, reason: `rejected by ${by}` }, now),
    ],
    rawMessages: [tombstone],
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
