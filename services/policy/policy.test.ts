import { describe, it, expect } from "vitest";
import { fromRoot } from "../../shared/paths.ts";
import { loadPolicy, parsePolicy, type Policy } from "../../shared/policy-file.ts";
import type {
  ApprovalDecision,
  ApprovalRequest,
  Draft,
  PolicyDecision,
  Response,
  ToolCall,
  ToolResult,
} from "../../shared/schemas/records.ts";
import { applyApproval, checkAnswer, checkCall, judgeCall, type PolicyOutcome } from "./policy.ts";
import { callDigest } from "./approval-check.ts";

const now = 1_750_000_000_000;

const policy = parsePolicy(
  `
tenants:
  acme:
    tools:
      allow: ["knowledge-base/*", "ticketing/*", "outbox/*"]
      deny: ["outbox/send_sms"]
    approvals:
      - id: big-refunds
        tool: ticketing/issue_refund
        when: { path: arguments.amount, greaterThan: 50 }
        reason: Refunds above 50 need a person
      - id: every-escalation
        tool: ticketing/escalate
        reason: Escalations always need a person
    arguments:
      - { id: ticket-priority, tool: ticketing/create_ticket, path: priority, oneOf: [low, normal, high] }
      - { id: order-format, tool: ticketing/issue_refund, path: orderId, pattern: "^[0-9]+$" }
      - { id: refund-limit, tool: ticketing/issue_refund, path: amount, max: 1000, reason: Refunds above 1000 are never automatic }
      - { id: refund-positive, tool: ticketing/issue_refund, path: amount, min: 1 }
      - { id: short-queries, tool: "knowledge-base/*", path: query, maxLength: 20 }
  narrow:
    tools:
      allow: ["knowledge-base/search"]
answers:
  redact: [email, phone, card]
  block:
    - { id: no-credentials, pattern: "password\\\\s*[:=]\\\\s*\\\\S+", reason: Answers never contain credentials }
  compliance:
    - { id: refund-terms, pattern: "\\\\brefund", append: "Refunds reach the original payment method in 5 to 7 days." }
`,
  "inline-policy.yaml",
);

function call(fields: Partial<ToolCall> & { args?: unknown } = {}): ToolCall {
  const { args, ...rest } = fields;
  return {
    requestId: "req-1",
    tenant: "acme",
    stepId: "search",
    tool: "knowledge-base/search",
    arguments: JSON.stringify(args ?? { query: "refund policy" }),
    idempotencyKey: `req-1/${fields.stepId ?? "search"}`,
    attempt: 1,
    timeoutMs: 30_000,
    dispatchedAt: now - 5,
    deadlineAt: null,
    fallbackFor: null,
    ...rest,
  };
}

const refund = (amount: unknown, orderId = "1234") =>
  call({ stepId: "refund", tool: "ticketing/issue_refund", args: { orderId, amount } });

function on(outcome: PolicyOutcome, topic: string): unknown[] {
  return outcome.messages.filter((message) => message.topic === topic).map((message) => message.value);
}

function decisions(outcome: PolicyOutcome): PolicyDecision[] {
  return on(outcome, "baton.policy-decisions") as PolicyDecision[];
}

describe("checkCall", () => {
  it("an allowed call goes to baton.allowed-calls unchanged, with an ALLOW decision on the audit trail", () => {
    const planned = call();
    const outcome = checkCall(planned, policy, now);
    expect(outcome.messages.map((message) => [message.topic, message.key])).toEqual([
      ["baton.allowed-calls", "req-1"],
      ["baton.policy-decisions", "req-1"],
    ]);
    expect(on(outcome, "baton.allowed-calls")).toEqual([planned]);
    expect(decisions(outcome)).toEqual([
      {
        requestId: "req-1",
        tenant: "acme",
        stepId: "search",
        tool: "knowledge-base/search",
        subject: "TOOL_CALL",
        action: "ALLOW",
        ruleId: null,
        reason: "knowledge-base/search is allowed for tenant acme",
        decidedAt: now,
      },
    ]);
    expect(outcome.rawMessages).toEqual([]);
  });

  it("a denied call never reaches the executor: a DENIED result goes back to the planner and the denial is audited", () => {
    const outcome = checkCall(call({ stepId: "sms", tool: "outbox/send_sms", args: { to: "x" } }), policy, now);
    expect(on(outcome, "baton.allowed-calls")).toEqual([]);
    expect(on(outcome, "baton.approval-requests")).toEqual([]);
    const [denied] = on(outcome, "baton.tool-results") as ToolResult[];
    expect(denied).toMatchObject({
      requestId: "req-1",
      stepId: "sms",
      tool: "outbox/send_sms",
      status: "DENIED",
      output: null,
      completedAt: now,
    });
    expect(denied?.error).toBe(
      "denied by policy rule tool-denied: outbox/send_sms is denied for tenant acme (outbox/send_sms)",
    );
    expect(decisions(outcome)).toMatchObject([{ action: "DENY", ruleId: "tool-denied", stepId: "sms" }]);
    expect(outcome.messages.find((message) => message.topic === "baton.tool-results")?.key).toBe("req-1");
  });

  it("the deny list wins over the allow list", () => {
    expect(judgeCall(call({ tool: "outbox/send_sms" }), policy)).toMatchObject({
      action: "DENY",
      ruleId: "tool-denied",
    });
    expect(judgeCall(call({ tool: "outbox/send_email" }), policy).action).toBe("ALLOW");
  });

  it("a tool outside the tenant's allow list is denied", () => {
    const verdict = judgeCall(call({ tenant: "narrow", tool: "ticketing/create_ticket" }), policy);
    expect(verdict).toEqual({
      action: "DENY",
      ruleId: "tool-not-allowed",
      reason: "ticketing/create_ticket is not allowed for tenant narrow",
    });
  });

  it("a tenant the policy does not name is denied everything", () => {
    expect(judgeCall(call({ tenant: "mallory" }), policy)).toMatchObject({ action: "DENY", ruleId: "unknown-tenant" });
  });

  it("arguments that are not JSON are denied", () => {
    expect(judgeCall({ ...call(), arguments: "{oops" }, policy)).toMatchObject({
      action: "DENY",
      ruleId: "arguments-not-json",
    });
  });

  it("oneOf denies a value outside the list, naming the rule", () => {
    const ticket = (priority: string) =>
      call({ stepId: "ticket", tool: "ticketing/create_ticket", args: { subject: "s", priority } });
    expect(judgeCall(ticket("urgent"), policy)).toEqual({
      action: "DENY",
      ruleId: "ticket-priority",
      reason: 'priority must be one of ["low","normal","high"]',
    });
    expect(judgeCall(ticket("high"), policy).action).toBe("ALLOW");
  });

  it("pattern denies a value that does not match, and a value that is not text", () => {
    expect(judgeCall(refund(30, "A-12"), policy)).toMatchObject({ action: "DENY", ruleId: "order-format" });
    expect(
      judgeCall(
        call({ stepId: "refund", tool: "ticketing/issue_refund", args: { orderId: 1234, amount: 30 } }),
        policy,
      ),
    ).toMatchObject({ action: "DENY", ruleId: "order-format" });
  });

  it("max denies a larger number with the rule's own reason, and min denies a smaller one", () => {
    expect(judgeCall(refund(1001), policy)).toEqual({
      action: "DENY",
      ruleId: "refund-limit",
      reason: "Refunds above 1000 are never automatic",
    });
    expect(judgeCall(refund(0.5), policy)).toEqual({
      action: "DENY",
      ruleId: "refund-positive",
      reason: "amount must be at least 1",
    });
  });

  it("a number rule denies a number given as text rather than letting it through", () => {
    expect(judgeCall(refund("30"), policy)).toMatchObject({ action: "DENY", ruleId: "refund-limit" });
  });

  it("maxLength denies text that is too long, on every tool its pattern matches", () => {
    expect(judgeCall(call({ args: { query: "x".repeat(21) } }), policy)).toEqual({
      action: "DENY",
      ruleId: "short-queries",
      reason: "query must be at most 20 characters",
    });
    expect(judgeCall(call({ args: { query: "x".repeat(20) } }), policy).action).toBe("ALLOW");
  });

  it("a denied argument produces a DENIED result naming its rule", () => {
    const outcome = checkCall(refund(5000), policy, now);
    expect(on(outcome, "baton.allowed-calls")).toEqual([]);
    expect((on(outcome, "baton.tool-results") as ToolResult[])[0]?.error).toBe(
      "denied by policy rule refund-limit: Refunds above 1000 are never automatic",
    );
  });

  it("a call an approval rule covers waits: an ApprovalRequest keyed <requestId>/<stepId> and a WAIT decision", () => {
    const planned = refund(120);
    const outcome = checkCall(planned, policy, now);
    expect(on(outcome, "baton.allowed-calls")).toEqual([]);
    expect(on(outcome, "baton.tool-results")).toEqual([]);
    expect(outcome.messages.map((message) => [message.topic, message.key])).toEqual([
      ["baton.approval-requests", "req-1/refund"],
      ["baton.policy-decisions", "req-1"],
    ]);
    expect(on(outcome, "baton.approval-requests")).toEqual([
      {
        ...planned,
        callDigest: callDigest(planned),
        ruleId: "big-refunds",
        reason: "Refunds above 50 need a person",
        requestedAt: now,
      },
    ] satisfies ApprovalRequest[]);
    expect(decisions(outcome)).toMatchObject([{ action: "WAIT", ruleId: "big-refunds" }]);
  });

  it("an approval rule's condition decides whether the call waits", () => {
    expect(judgeCall(refund(50), policy).action).toBe("ALLOW");
    expect(judgeCall(refund(51), policy).action).toBe("WAIT");
  });

  it("an approval rule without a condition always waits", () => {
    expect(judgeCall(call({ tool: "ticketing/escalate", args: {} }), policy)).toMatchObject({
      action: "WAIT",
      ruleId: "every-escalation",
    });
  });

  it("argument rules are checked before approvals, so a refund over the limit is denied, not sent to a person", () => {
    expect(judgeCall(refund(5000), policy).action).toBe("DENY");
  });
});

describe("applyApproval", () => {
  const pending = refund(120);
  const waitOutcome = checkCall({ ...pending, deadlineAt: now + 60_000 }, policy, now - 10);
  const [waiting] = on(waitOutcome, "baton.approval-requests") as ApprovalRequest[];
  if (waiting === undefined) throw new Error("the refund does not wait");
  const answer = (
    approved: boolean,
    comment: string | null,
    fields: Partial<ApprovalDecision> = {},
  ): ApprovalDecision => ({
    ...waiting,
    approved,
    approver: "maria",
    comment,
    decidedAt: now - 1,
    ...fields,
  });
  const tombstone = [{ topic: "baton.approval-requests", key: "req-1/refund", value: null }];

  it("a waiting call carries the digest of its tool and arguments, and the table of waiting calls follows it", () => {
    expect(waiting.callDigest).toBe(callDigest(pending));
    expect(waiting.callDigest).toMatch(/^[0-9a-f]{64}$/u);
    expect(callDigest({ ...pending, arguments: pending.arguments.replace("120", "121") })).not.toBe(waiting.callDigest);
    expect(waitOutcome.approvalState).toEqual({ key: "req-1/refund", value: waiting });
  });

  it("an approved call that waits goes to the executor as it waited, and stops waiting", () => {
    const outcome = applyApproval(answer(true, "customer is known"), waiting, policy, now);
    expect(on(outcome, "baton.allowed-calls")).toEqual([{ ...pending, deadlineAt: now + 60_000 }]);
    expect(outcome.messages.find((message) => message.topic === "baton.allowed-calls")?.key).toBe("req-1");
    expect(outcome.rawMessages).toEqual(tombstone);
    expect(outcome.approvalState).toEqual({ key: "req-1/refund", value: null });
    expect(decisions(outcome)).toMatchObject([
      { action: "APPROVED", stepId: "refund", ruleId: "big-refunds", reason: "approved by maria: customer is known" },
    ]);
  });

  it("a rejected call comes back DENIED naming the approver, and stops waiting", () => {
    const outcome = applyApproval(answer(false, null), waiting, policy, now);
    expect(on(outcome, "baton.allowed-calls")).toEqual([]);
    const [result] = on(outcome, "baton.tool-results") as ToolResult[];
    expect(result).toMatchObject({ stepId: "refund", status: "DENIED", error: "rejected by maria" });
    expect(outcome.rawMessages).toEqual(tombstone);
    expect(decisions(outcome)).toMatchObject([{ action: "REJECTED", reason: "rejected by maria" }]);
  });

  const refusedBy = (outcome: PolicyOutcome, ruleId: string): PolicyDecision => {
    expect(on(outcome, "baton.allowed-calls")).toEqual([]);
    expect(on(outcome, "baton.tool-results")).toEqual([]);
    const [only, ...more] = decisions(outcome);
    expect(more).toEqual([]);
    expect(only).toMatchObject({ subject: "APPROVAL", action: "REFUSE", ruleId });
    return only as PolicyDecision;
  };
  const refused = (outcome: PolicyOutcome): PolicyDecision => refusedBy(outcome, "approval-not-matched");

  it("a decision for a call that never waited (forged) runs nothing and is audited as refused", () => {
    const forged = answer(true, null, {
      requestId: "never-submitted",
      stepId: "refund",
      idempotencyKey: "never-submitted/refund",
      arguments: JSON.stringify({ orderId: "2361", amount: 999 }),
      callDigest: null,
    });
    const outcome = applyApproval(forged, undefined, policy, now);
    expect(refused(outcome).reason).toContain("no call waits for this approval");
    expect(outcome.rawMessages).toEqual([]);
    expect(outcome.approvalState).toBeUndefined();
  });

  it("a decision with the right key but other arguments runs nothing, and the call keeps waiting", () => {
    const otherArguments = JSON.stringify({ orderId: "1234", amount: 999 });
    const withOwnDigest = answer(true, null, {
      arguments: otherArguments,
      callDigest: callDigest({ tool: pending.tool, arguments: otherArguments }),
    });
    const outcome = applyApproval(withOwnDigest, waiting, policy, now);
    expect(refused(outcome).reason).toContain("digest does not match");
    expect(outcome.rawMessages).toEqual([]);
    expect(outcome.approvalState).toBeUndefined();
    const copiedDigest = applyApproval(answer(true, null, { arguments: otherArguments }), waiting, policy, now);
    expect(refused(copiedDigest).reason).toContain("other arguments");
    const otherKey = applyApproval(answer(true, null, { idempotencyKey: "req-1/other" }), waiting, policy, now);
    expect(refused(otherKey).reason).toContain("idempotency key");
  });

  it("a decision repeated after the call ran finds no waiting call and runs nothing", () => {
    const first = applyApproval(answer(true, null), waiting, policy, now);
    expect(first.approvalState?.value).toBeNull();
    expect(refused(applyApproval(answer(true, null), undefined, policy, now + 5)).reason).toContain("already decided");
  });

  it("a decision after the run's deadline runs nothing, and the call stops waiting", () => {
    const outcome = applyApproval(answer(true, null), waiting, policy, now + 60_001);
    expect(refused(outcome).reason).toContain("too late");
    expect(outcome.rawMessages).toEqual(tombstone);
    expect(outcome.approvalState).toEqual({ key: "req-1/refund", value: null });
  });

  it("with principals declared, the signer is the approver, and one not bound to the tenant runs nothing", () => {
    const signed = applyApproval(answer(true, null, { approver: "anyone" }), waiting, policy, now, {
      principal: "maria",
    });
    expect(on(signed, "baton.allowed-calls")).toHaveLength(1);
    expect(decisions(signed)).toMatchObject([{ action: "APPROVED", reason: "approved by maria" }]);
    const notBound = applyApproval(answer(true, null), waiting, policy, now, {
      problem: "principal bob may not approve calls for tenant acme",
    });
    expect(refusedBy(notBound, "approver-not-allowed").reason).toBe(
      "decision refused: principal bob may not approve calls for tenant acme (it names approver maria)",
    );
    expect(notBound.rawMessages).toEqual([]);
    expect(notBound.approvalState).toBeUndefined();
  });

  it("an approval is checked against the rules of now: a call they deny since does not run", () => {
    const stricter = parsePolicy(
      `
tenants:
  acme:
    tools:
      allow: ["knowledge-base/*"]
`,
      "stricter.yaml",
    );
    const outcome = applyApproval(answer(true, null), waiting, stricter, now);
    expect(on(outcome, "baton.allowed-calls")).toEqual([]);
    const [result] = on(outcome, "baton.tool-results") as ToolResult[];
    expect(result).toMatchObject({ status: "DENIED" });
    expect(result?.error).toContain("tool-not-allowed");
    expect(decisions(outcome)).toMatchObject([{ action: "DENY", ruleId: "tool-not-allowed" }]);
    expect(outcome.rawMessages).toEqual(tombstone);
  });
});

describe("checkAnswer", () => {
  const draft = (answer: string | null, fields: Partial<Draft> = {}): Draft => ({
    requestId: "req-1",
    tenant: "acme",
    status: "ANSWERED",
    answer,
    steps: [{ stepId: "search", tool: "knowledge-base/search", status: "SUCCEEDED", attempts: 1, durationMs: 12 }],
    error: null,
    completedAt: now - 3,
    ...fields,
  });

  const response = (outcome: PolicyOutcome): Response => {
    const responses = on(outcome, "baton.responses") as Response[];
    expect(responses).toHaveLength(1);
    return responses[0] as Response;
  };

  it("an answer with nothing to change leaves as it is with one ALLOW decision, keyed by requestId", () => {
    const outcome = checkAnswer(draft("Your order #1234 ships on 2026-11-21."), policy, now);
    expect(outcome.messages.every((message) => message.key === "req-1")).toBe(true);
    expect(response(outcome)).toEqual({
      requestId: "req-1",
      status: "ANSWERED",
      answer: "Your order #1234 ships on 2026-11-21.",
      steps: draft(null).steps,
      error: null,
      completedAt: now,
    });
    expect(decisions(outcome)).toMatchObject([{ subject: "ANSWER", action: "ALLOW", ruleId: null, stepId: null }]);
  });

  it("personal data is redacted and each kind is counted in a REDACT decision", () => {
    const text = "Mail ana@example.com or bo@shop.co.uk, call 555-123-4567, card 4111 1111 1111 1111.";
    const outcome = checkAnswer(draft(text), policy, now);
    expect(response(outcome).answer).toBe(
      "Mail [redacted email] or [redacted email], call [redacted phone], card [redacted card].",
    );
    expect(
      decisions(outcome)
        .map((decision) => [decision.action, decision.ruleId, decision.reason])
        .sort(),
    ).toEqual([
      ["REDACT", "pii-card", "1 card redacted"],
      ["REDACT", "pii-email", "2 emails redacted"],
      ["REDACT", "pii-phone", "1 phone redacted"],
    ]);
  });

  it("a blocked answer is withheld: no answer, status REFUSED, the reason as error and a BLOCK decision", () => {
    const outcome = checkAnswer(draft("Log in with password: hunter2 and email ana@example.com"), policy, now);
    expect(response(outcome)).toMatchObject({
      status: "REFUSED",
      answer: null,
      error: "answer withheld by policy rule no-credentials: Answers never contain credentials",
    });
    expect(decisions(outcome)).toMatchObject([
      { action: "BLOCK", ruleId: "no-credentials", reason: "Answers never contain credentials" },
    ]);
  });

  it("a compliance rule appends its text to a matching answer with an APPEND decision", () => {
    const outcome = checkAnswer(draft("Your Refund was issued."), policy, now);
    expect(response(outcome).answer).toBe(
      "Your Refund was issued.\n\nRefunds reach the original payment method in 5 to 7 days.",
    );
    expect(decisions(outcome)).toMatchObject([{ action: "APPEND", ruleId: "refund-terms" }]);
  });

  it("a draft without an answer keeps its status and error and is allowed", () => {
    const outcome = checkAnswer(draft(null, { status: "REFUSED", error: "unknown tenant x" }), policy, now);
    expect(response(outcome)).toMatchObject({ status: "REFUSED", answer: null, error: "unknown tenant x" });
    expect(decisions(outcome).map((decision) => decision.action)).toEqual(["ALLOW"]);
  });

  it("only the kinds of personal data the policy names are redacted", () => {
    const emailsOnly: Policy = { ...policy, answers: { ...policy.answers, redact: ["email"] } };
    const outcome = checkAnswer(draft("ana@example.com, 555-123-4567"), emailsOnly, now);
    expect(response(outcome).answer).toBe("[redacted email], 555-123-4567");
  });
});

describe("the shipped policies/default.yaml", () => {
  const shipped = () => loadPolicy(fromRoot("policies", "default.yaml"));

  it("lets the demo tenant search the knowledge base", async () => {
    const verdict = judgeCall(call({ tenant: "demo", args: { query: "refund policy", limit: 3 } }), await shipped());
    expect(verdict.action).toBe("ALLOW");
  });

  it("makes a demo refund of 120 wait for a person and lets a refund of 30 through", async () => {
    const policy = await shipped();
    expect(judgeCall({ ...refund(120), tenant: "demo" }, policy)).toMatchObject({
      action: "WAIT",
      ruleId: "large-refunds-need-approval",
    });
    expect(judgeCall({ ...refund(30), tenant: "demo" }, policy).action).toBe("ALLOW");
  });

  it("denies the trial tenant sending email", async () => {
    const verdict = judgeCall(
      call({ tenant: "trial", stepId: "notify", tool: "outbox/send_email", args: { to: "a@b.io" } }),
      await shipped(),
    );
    expect(verdict).toMatchObject({ action: "DENY", ruleId: "tool-denied" });
  });

  it("appends the refund terms to an answer about a refund", async () => {
    const outcome = checkAnswer(
      {
        requestId: "req-2",
        tenant: "demo",
        status: "ANSWERED",
        answer: "Refund R-1 of 30 EUR was issued for order 1234.",
        steps: [],
        error: null,
        completedAt: now,
      },
      await shipped(),
      now,
    );
    expect((on(outcome, "baton.responses") as Response[])[0]?.answer).toContain("original payment method");
  });
});
