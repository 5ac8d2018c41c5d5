import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { backboneConfigSchema, parseConfig } from "../../shared/config.ts";
import { createBackbone, type Backbone } from "../../shared/backbone.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { TopicWatcher } from "../../shared/kafka/topic-watcher.ts";
import { readTopic } from "../../shared/kafka/topic-reader.ts";
import { deadLetterHeaders } from "../../shared/kafka/headers.ts";
import type {
  ApprovalDecision,
  ApprovalRequest,
  PolicyDecision,
  Request,
  Response,
  ToolCall,
} from "../../shared/schemas/records.ts";
import { TestPipeline } from "./pipeline.ts";
import { eventually } from "../integration/harness.ts";
import { findDeadLetters, redrive } from "../../cli/dlq-command.ts";
import { findRequestTraces } from "../../cli/trace-command.ts";
import { buildWaterfalls } from "../../cli/trace-view.ts";

let pipeline: TestPipeline;
let backbone: Backbone;
let producer: BatonProducer;
let responses: TopicWatcher<Response>;
type WatchedTopic =
  | "baton.tool-calls"
  | "baton.allowed-calls"
  | "baton.approval-requests"
  | "baton.policy-decisions"
  | "baton.tool-results";
let watched: Record<WatchedTopic, TopicWatcher<unknown>>;

beforeAll(async () => {
  // Every request this test sends starts a sampled trace; the stages follow it (parent-based sampling).
  const config = parseConfig(backboneConfigSchema, {
    OTEL_TRACES_EXPORTER: "zipkin",
    OTEL_TRACES_SAMPLER: "always_on",
  });
  backbone = createBackbone("baton-e2e", config, createLogger({ service: "baton-e2e", level: "warn" }));
  producer = await BatonProducer.connect({
    kafka: backbone.kafka,
    codec: backbone.codec,
    tracer: backbone.tracing.tracer,
  });
  responses = new TopicWatcher<Response>({ kafka: backbone.kafka, codec: backbone.codec, topic: "baton.responses" });
  await responses.start();
  const { kafka, codec } = backbone;
  watched = {
    "baton.tool-calls": new TopicWatcher({ kafka, codec, topic: "baton.tool-calls", keepAll: true }),
    "baton.allowed-calls": new TopicWatcher({ kafka, codec, topic: "baton.allowed-calls", keepAll: true }),
    "baton.approval-requests": new TopicWatcher({ kafka, codec, topic: "baton.approval-requests", keepAll: true }),
    "baton.policy-decisions": new TopicWatcher({ kafka, codec, topic: "baton.policy-decisions", keepAll: true }),
    "baton.tool-results": new TopicWatcher({ kafka, codec, topic: "baton.tool-results", keepAll: true }),
  };
  await Promise.all(Object.values(watched).map((watcher) => watcher.start()));
  pipeline = await TestPipeline.start();
}, 180_000);

afterAll(async () => {
  const stopped = await pipeline.stop();
  await responses.stop();
  await Promise.all(Object.values(watched).map((watcher) => watcher.stop()));
  await producer.disconnect();
  await backbone.tracing.shutdown();
  expect(stopped.filter((stage) => stage.code !== 0)).toEqual([]);
}, 60_000);

async function submit(input: string, fields: Partial<Omit<Request, "input">> = {}): Promise<Request> {
  const request: Request = {
    requestId: `e2e-${randomUUID()}`,
    tenant: "demo",
    input,
    workflow: null,
    metadata: {},
    submittedAt: Date.now(),
    ...fields,
  };
  await producer.send([{ topic: "baton.requests", key: request.requestId, value: request }]);
  return request;
}

async function answer(request: Request, timeoutMs = 30_000): Promise<Response> {
  return (await responses.waitFor(request.requestId, timeoutMs)).value;
}

/** The messages about a request on a watched topic, once `count` arrived (the suite watches from its start). */
async function messagesFor<T>(topic: WatchedTopic, requestId: string, count: number): Promise<T[]> {
  const about = (): unknown[] =>
    watched[topic].matching((key) => key.startsWith(requestId)).map((message) => message.value);
  return (await eventually(() => (about().length >= count ? about() : undefined), 20_000)) as T[];
}

async function outbox(): Promise<Array<{ to: string; subject: string; body: string }>> {
  const text = await readFile(join(pipeline.toolsDataDir, "outbox.jsonl"), "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as { to: string; subject: string; body: string });
}

/** The partition a request's messages on a watched topic arrived on (its run's partition number). */
function partitionOf(topic: WatchedTopic, requestId: string): number {
  const [first] = watched[topic].matching((key) => key.startsWith(requestId));
  if (first === undefined) throw new Error(`nothing about ${requestId} on ${topic}`);
  return first.partition;
}

function stepStatuses(response: Response): Record<string, string> {
  return Object.fromEntries(response.steps.map((step) => [step.stepId, step.status]));
}

describe("the pipeline end to end", () => {
  it("independent steps are dispatched together and a later step receives both results", async () => {
    const request = await submit("How long does shipping take?", {
      workflow: "parallel-lookup",
      metadata: { customerEmail: "carol@example.com" },
    });
    const response = await answer(request);
    expect(response.status).toBe("ANSWERED");
    expect(stepStatuses(response)).toEqual({ search: "SUCCEEDED", ticket: "SUCCEEDED", notify: "SUCCEEDED" });

    const calls = await messagesFor<ToolCall>("baton.tool-calls", request.requestId, 3);
    const byStep = new Map(calls.map((call) => [call.stepId, call]));
    expect(byStep.get("search")?.dispatchedAt).toBe(byStep.get("ticket")?.dispatchedAt);
    expect(byStep.get("notify")?.dispatchedAt).toBeGreaterThan(byStep.get("search")?.dispatchedAt ?? Infinity);

    const mail = (await outbox()).filter((message) => message.to === "carol@example.com");
    expect(mail).toHaveLength(1);
    const ticketId = /Ticket (TCK-\d+)/.exec(response.answer ?? "")?.[1];
    expect(ticketId).toBeDefined();
    expect(mail[0]?.subject).toBe(`Ticket ${ticketId}`);
    expect(mail[0]?.body).toMatch(new RegExp(`^Ticket ${ticketId}; best article: \\S+`));
  });

  it("personal data is redacted from the answer before it leaves, and each redaction is audited", async () => {
    const request = await submit("Where is my parcel?", {
      workflow: "parallel-lookup",
      metadata: { customerEmail: "dave@example.com" },
    });
    const response = await answer(request);
    expect(response.answer).toContain("[redacted email]");
    expect(response.answer).toContain("[redacted phone]");
    expect(response.answer).toContain("[redacted card]");
    expect(response.answer).not.toMatch(/dave@example\.com|7946 0958|4111 1111/);
    const decisions = await messagesFor<PolicyDecision>("baton.policy-decisions", request.requestId, 6);
    const redactions = decisions.filter((decision) => decision.subject === "ANSWER" && decision.action === "REDACT");
    expect(redactions.map((decision) => decision.ruleId).sort()).toEqual(["pii-card", "pii-email", "pii-phone"]);
  });

  it("a conditional step runs only when its condition holds", async () => {
    const answered = await submit("How long does shipping take?", { metadata: { customerEmail: "erin@example.com" } });
    const escalated = await submit("My order #1234 arrived damaged and I want a refund", {
      metadata: { customerEmail: "frank@example.com" },
    });
    const [plain, ticketed] = await Promise.all([answer(answered), answer(escalated)]);
    expect(stepStatuses(plain)).toEqual({ search: "SUCCEEDED", ticket: "SKIPPED", notify: "SKIPPED" });
    expect(stepStatuses(ticketed)).toEqual({ search: "SUCCEEDED", ticket: "SUCCEEDED", notify: "SUCCEEDED" });
    expect(ticketed.answer).toMatch(/I opened ticket TCK-\d+/);
    expect(ticketed.answer).toContain("Refunds follow our returns policy.");
    expect((await outbox()).filter((message) => message.to === "erin@example.com")).toHaveLength(0);
  });

  it("a denied call never reaches the executor, and the response says what was refused", async () => {
    const request = await submit("My order #77 arrived broken", {
      tenant: "trial",
      metadata: { customerEmail: "grace@example.com" },
    });
    const response = await answer(request);
    expect(response.status).toBe("REFUSED");
    expect(stepStatuses(response).notify).toBe("DENIED");
    expect(response.error).toMatch(/notify \(outbox\/send_email\) DENIED: denied by policy rule tool-denied/);
    expect((await outbox()).filter((message) => message.to === "grace@example.com")).toHaveLength(0);
    // The calls policy cleared went out before the response; the denied one never did.
    const cleared = watched["baton.allowed-calls"]
      .matching((key) => key === request.requestId)
      .map((message) => (message.value as ToolCall).stepId);
    expect(cleared.sort()).toEqual(["search", "ticket"]);
  });

  it("a call that needs approval waits for a person, then runs when approved or is refused when rejected", async () => {
    const approved = await submit("Refund order 1001", {
      workflow: "refund",
      metadata: { orderId: "1001", amount: "120" },
    });
    const rejected = await submit("Refund order 1002", {
      workflow: "refund",
      metadata: { orderId: "1002", amount: "200" },
    });
    const [pendingApproved] = await messagesFor<ApprovalRequest>("baton.approval-requests", approved.requestId, 1);
    const [pendingRejected] = await messagesFor<ApprovalRequest>("baton.approval-requests", rejected.requestId, 1);
    expect(pendingApproved?.ruleId).toBe("large-refunds-need-approval");
    if (pendingApproved === undefined || pendingRejected === undefined) throw new Error("no approval requests");
    await expect(responses.waitFor(approved.requestId, 1_500)).rejects.toThrow(/no message/);

    const decide = (pending: ApprovalRequest, isApproved: boolean): ApprovalDecision => {
      const { ruleId: _rule, reason: _reason, requestedAt: _at, ...call } = pending;
      return {
        ...call,
        approved: isApproved,
        approver: "e2e",
        comment: isApproved ? null : "not covered",
        decidedAt: Date.now(),
      };
    };
    await producer.send([
      { topic: "baton.approvals", key: approved.requestId, value: decide(pendingApproved, true) },
      { topic: "baton.approvals", key: rejected.requestId, value: decide(pendingRejected, false) },
    ]);
    const [yes, no] = await Promise.all([answer(approved), answer(rejected)]);
    expect(yes.status).toBe("ANSWERED");
    expect(yes.answer).toMatch(/Refund RFD-\d+ of 120 EUR was issued for order 1001\./);
    expect(no.status).toBe("REFUSED");
    expect(stepStatuses(no).refund).toBe("DENIED");
    expect(no.error).toContain("rejected by e2e: not covered");
  });

  it("forged decisions run nothing: for a call that never waited, with other arguments, or repeated after the call ran", async () => {
    const refundsFor = async (orderId: string): Promise<unknown[]> => {
      const text = await readFile(join(pipeline.toolsDataDir, "refunds.jsonl"), "utf8").catch(() => "");
      return text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as { orderId: string })
        .filter((refund) => refund.orderId === orderId);
    };
    const refusalsOf = async (requestId: string, count: number): Promise<PolicyDecision[]> =>
      eventually(() => {
        const found = watched["baton.policy-decisions"]
          .matching((key) => key === requestId)
          .map((message) => message.value as PolicyDecision)
          .filter((decision) => decision.action === "REFUSE");
        return found.length >= count ? found : undefined;
      }, 20_000);
    const orderId = String(2000 + Math.floor(Math.random() * 7000));
    const forgedOrder = `${orderId}9`;

    // 1. A decision for a request that never existed, carrying the call it wants run.
    const nobody = `forged-${randomUUID()}`;
    const forgedArguments = JSON.stringify({ orderId: forgedOrder, amount: 999, currency: "EUR" });
    const forged: ApprovalDecision = {
      requestId: nobody,
      tenant: "demo",
      stepId: "refund",
      tool: "ticketing/issue_refund",
      arguments: forgedArguments,
      idempotencyKey: `${nobody}/refund`,
      attempt: 1,
      timeoutMs: 30_000,
      dispatchedAt: Date.now(),
      deadlineAt: null,
      fallbackFor: null,
      callDigest: null,
      approved: true,
      approver: "nobody",
      comment: null,
      decidedAt: Date.now(),
    };
    await producer.send([{ topic: "baton.approvals", key: nobody, value: forged }]);
    const [neverWaited] = await refusalsOf(nobody, 1);
    expect(neverWaited).toMatchObject({
      subject: "APPROVAL",
      ruleId: "approval-not-matched",
      tool: "ticketing/issue_refund",
    });
    expect(neverWaited?.reason).toContain("no call waits for this approval");

    // 2. A real waiting call, answered first with the right key but other arguments (and their own digest).
    const request = await submit(`Refund order ${orderId}`, {
      workflow: "refund",
      metadata: { orderId, amount: "120" },
    });
    const [pending] = await messagesFor<ApprovalRequest>("baton.approval-requests", request.requestId, 1);
    if (pending === undefined) throw new Error("no approval request");
    const { ruleId: _rule, reason: _reason, requestedAt: _at, ...waitingCall } = pending;
    const genuine: ApprovalDecision = {
      ...waitingCall,
      approved: true,
      approver: "e2e",
      comment: null,
      decidedAt: Date.now(),
    };
    const otherArguments = JSON.stringify({ orderId: forgedOrder, amount: 999, currency: "EUR" });
    const otherDigest = createHash("sha256").update(pending.tool).update("\n").update(otherArguments).digest("hex");
    await producer.send([
      {
        topic: "baton.approvals",
        key: request.requestId,
        value: { ...genuine, arguments: otherArguments, callDigest: otherDigest, approver: "mallory" },
        partition: partitionOf("baton.approval-requests", request.requestId),
      },
    ]);
    const [otherArgs] = await refusalsOf(request.requestId, 1);
    expect(otherArgs?.reason).toContain("digest does not match");
    await expect(responses.waitFor(request.requestId, 1_000)).rejects.toThrow(/no message/);

    // The genuine decision runs the waiting call, once.
    const partition = partitionOf("baton.approval-requests", request.requestId);
    await producer.send([{ topic: "baton.approvals", key: request.requestId, value: genuine, partition }]);
    const answered = await answer(request);
    expect(answered.status).toBe("ANSWERED");
    expect(answered.answer).toContain(`of 120 EUR was issued for order ${orderId}`);

    // 3. The same decision again, after the call ran.
    await producer.send([{ topic: "baton.approvals", key: request.requestId, value: genuine, partition }]);
    const refusals = await refusalsOf(request.requestId, 2);
    expect(refusals[1]?.reason).toContain("no call waits for this approval");
    expect(await refundsFor(orderId)).toHaveLength(1);
    expect(await refundsFor(forgedOrder)).toEqual([]);
    expect(watched["baton.allowed-calls"].matching((key) => key === nobody)).toEqual([]);
  });

  it("with a breaker open, the fallback runs as its own step through policy: once per key, and never for a tenant it is not allowed", async () => {
    const ticketsAbout = async (subject: string): Promise<unknown[]> => {
      const text = await readFile(join(pipeline.toolsDataDir, "tickets.jsonl"), "utf8").catch(() => "");
      return text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as { subject: string })
        .filter((ticket) => ticket.subject === subject);
    };
    // The first call times out (the tool has side effects, so it is not repeated) and opens the breaker.
    const first = await submit(`fallback opener ${randomUUID()}`, { workflow: "fallback-ticket" });
    expect((await answer(first)).status).toBe("FAILED");

    const subject = `fallback ${randomUUID()}`;
    const viaFallback = await submit(subject, { workflow: "fallback-ticket" });
    const answered = await answer(viaFallback);
    expect(answered.status).toBe("ANSWERED");
    expect(answered.answer).toMatch(/^Ticket TCK-\d+ opened\./u);
    expect(answered.steps.map((step) => [step.stepId, step.tool, step.status])).toEqual([
      ["ticket", "stuck-ticketing/create_ticket", "SUCCEEDED"],
      ["ticket~fallback", "ticketing/create_ticket", "SUCCEEDED"],
    ]);
    // Policy judged the fallback like any call, and the executor ran it under its own idempotency key.
    const decided = watched["baton.policy-decisions"]
      .matching((key) => key === viaFallback.requestId)
      .map((message) => message.value as PolicyDecision);
    expect(decided.filter((decision) => decision.stepId === "ticket~fallback")).toMatchObject([
      { action: "ALLOW", tool: "ticketing/create_ticket" },
    ]);
    const [fallbackCall] = (await messagesFor<ToolCall>("baton.allowed-calls", viaFallback.requestId, 2)).filter(
      (call) => call.stepId === "ticket~fallback",
    );
    expect(fallbackCall).toMatchObject({
      idempotencyKey: `${viaFallback.requestId}/ticket~fallback`,
      fallbackFor: "ticket",
    });
    expect(await ticketsAbout(subject)).toHaveLength(1);

    // The fallback's call delivered again (a redelivery, a rewind) is answered from its record: still one ticket.
    if (fallbackCall === undefined) throw new Error("no fallback call");
    const resultsBefore = watched["baton.tool-results"].matching((key) => key === viaFallback.requestId).length;
    await producer.send([
      {
        topic: "baton.allowed-calls",
        key: viaFallback.requestId,
        value: { ...fallbackCall, attempt: 2 },
        partition: partitionOf("baton.allowed-calls", viaFallback.requestId),
      },
    ]);
    await eventually(
      () =>
        watched["baton.tool-results"].matching((key) => key === viaFallback.requestId).length > resultsBefore
          ? true
          : undefined,
      20_000,
    );
    expect(await ticketsAbout(subject)).toHaveLength(1);

    // A tenant who may call the primary but not its fallback: the fallback is DENIED, and nothing is created.
    const deniedSubject = `fallback denied ${randomUUID()}`;
    const denied = await submit(deniedSubject, { workflow: "fallback-ticket", tenant: "no-fallback" });
    const refused = await answer(denied);
    expect(refused.status).toBe("REFUSED");
    expect(stepStatuses(refused)).toEqual({ ticket: "DENIED", "ticket~fallback": "DENIED" });
    expect(refused.error).toContain("tool-not-allowed");
    expect(await ticketsAbout(deniedSubject)).toEqual([]);
  });

  it("an invalid plan, an unknown workflow and an unknown tenant each get a clear response", async () => {
    const broken = await submit("anything", { workflow: "broken-plan" });
    const unknownWorkflow = await submit("anything", { workflow: "no-such-workflow" });
    const unknownTenant = await submit("How long does shipping take?", { tenant: "nobody" });
    const [plan, workflow, tenant] = await Promise.all([
      answer(broken),
      answer(unknownWorkflow),
      answer(unknownTenant),
    ]);
    expect(plan.status).toBe("FAILED");
    expect(plan.error).toBe("invalid plan for broken-plan: step missing uses unknown tool nosuch/tool");
    expect(workflow.status).toBe("REFUSED");
    expect(workflow.error).toMatch(/^unknown workflow no-such-workflow \(known: .*customer-support.*\)$/);
    expect(tenant.status).toBe("REFUSED");
    expect(tenant.error).toBe("unknown tenant nobody");
  });

  it("an undecodable request goes to the dead letter with its bytes and reason, and the next request is still answered", async () => {
    const key = `e2e-garbage-${randomUUID()}`;
    const garbage = Buffer.from(`{"requestId":"${key}"} is JSON, not Avro`);
    await producer.sendRaw([{ topic: "baton.requests", key, value: garbage }]);
    const next = await submit("How long does shipping take?");
    expect((await answer(next)).status).toBe("ANSWERED");
    const dead = await readTopic({
      kafka: backbone.kafka,
      codec: backbone.codec,
      topic: "baton.requests.dlq",
      timeoutMs: 20_000,
      until: (messages) => messages.some((message) => message.key === key),
    });
    const letter = dead.find((message) => message.key === key);
    expect(letter?.raw?.equals(garbage)).toBe(true);
    expect(letter?.headers[deadLetterHeaders.code]).toBe("DECODE_FAILED");
    expect(letter?.headers[deadLetterHeaders.stage]).toBe("planner");
    expect(letter?.headers[deadLetterHeaders.originTopic]).toBe("baton.requests");
  });

  it("runs in flight when the planner is killed complete under a new planner, each with exactly one response", async () => {
    const requests = await Promise.all(
      Array.from({ length: 4 }, (_, index) =>
        submit(`shipping times ${index}`, { tenant: "slow", workflow: "slow-lookup" }),
      ),
    );
    for (const request of requests) await messagesFor<ToolCall>("baton.tool-calls", request.requestId, 1);
    await pipeline.kill("planner");
    await pipeline.startStage("planner");
    const answers = await Promise.all(requests.map((request) => answer(request, 60_000)));
    for (const response of answers) {
      expect(response.status).toBe("ANSWERED");
      expect(stepStatuses(response)).toEqual({ first: "SUCCEEDED", second: "SUCCEEDED" });
    }
    // Late duplicates would arrive by now; the watcher counts every response since the suite started.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    for (const request of requests) expect(responses.count(request.requestId)).toBe(1);
  });

  it("the same requestId submitted twice gets one run and one response", async () => {
    const first = await submit("How long does shipping take?");
    await producer.send([
      { topic: "baton.requests", key: first.requestId, value: { ...first, submittedAt: Date.now() } },
    ]);
    const refused = await submit("How long does shipping take?", { tenant: "nobody" });
    await producer.send([{ topic: "baton.requests", key: refused.requestId, value: refused }]);
    expect((await answer(first)).status).toBe("ANSWERED");
    expect((await answer(refused)).status).toBe("REFUSED");
    // Late duplicates would arrive by now; the watcher counts every response since the suite started.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(responses.count(first.requestId)).toBe(1);
    expect(responses.count(refused.requestId)).toBe(1);
  });

  it("a tool that times out is retried through the retry topic per its settings, then reported TIMED_OUT with its attempts", async () => {
    const request = await submit("shipping", { tenant: "slow", workflow: "stuck-lookup" });
    const response = await answer(request, 30_000);
    expect(response.status).toBe("FAILED");
    expect(response.steps).toEqual([expect.objectContaining({ stepId: "search", status: "TIMED_OUT", attempts: 2 })]);
    expect(response.error).toContain("stuck-kb/search did not answer within 500 ms");
    const retried = await readTopic({
      kafka: backbone.kafka,
      codec: backbone.codec,
      topic: "baton.allowed-calls.retry.1s",
      timeoutMs: 10_000,
      until: (messages) => messages.some((message) => message.key === request.requestId),
    });
    const retry = retried.find((message) => message.key === request.requestId);
    expect(retry?.headers["baton-attempt"]).toBe("2");
    expect(retry?.headers["baton-last-error"]).toMatch(/^TIMEOUT: stuck-kb\/search did not answer within 500 ms/);
  });

  it("one support request with a retried step is one trace in Zipkin: all four stages, the retry and the MCP calls", async () => {
    const request = await submit("Where is my parcel?", { tenant: "slow", workflow: "flaky-support" });
    const response = await answer(request, 30_000);
    expect(response.status).toBe("ANSWERED");
    expect(response.steps).toEqual([expect.objectContaining({ stepId: "search", status: "SUCCEEDED", attempts: 2 })]);
    // Stages export in batches every few seconds; the search finds the request's trace by its id.
    const query = { zipkinUrl: "http://127.0.0.1:9411", requestId: request.requestId, lookbackMs: 600_000, limit: 10 };
    const complete = (
      spans: Array<{ name?: string | undefined; localEndpoint?: { serviceName?: string | undefined } | undefined }>,
    ): boolean => {
      const services = new Set(spans.map((span) => span.localEndpoint?.serviceName));
      return (
        ["baton-planner", "baton-policy", "baton-executor", "baton-summarizer"].every((service) =>
          services.has(service),
        ) &&
        spans.some((span) => span.name === "process baton.allowed-calls.retry.1s") &&
        spans.filter((span) => span.name === "tools/call flaky-kb/search").length >= 2 &&
        spans.some((span) => span.name === "send baton.responses")
      );
    };
    const traces = await eventually(async () => {
      const found = await findRequestTraces(query);
      return found.length > 0 && complete(found.flat()) ? found : undefined;
    }, 40_000);
    const traceIds = new Set(traces.flat().map((span) => span.traceId));
    expect([...traceIds]).toHaveLength(1);
    const spans = traces.flat();
    const calls = spans.filter((span) => span.name === "tools/call flaky-kb/search");
    expect(calls.every((call) => call.kind === "CLIENT" && call.tags?.["gen_ai.tool.name"] === "flaky-kb/search")).toBe(
      true,
    );
    expect(calls.some((call) => call.tags?.error !== undefined)).toBe(true);
    const retried = spans.find((span) => span.name === "process baton.allowed-calls.retry.1s");
    expect(retried?.tags?.["baton.attempt"]).toBe("2");
    expect(retried?.tags?.["messaging.destination.name"]).toBe("baton.allowed-calls.retry.1s");
    // `baton trace` lays the same spans out as one waterfall, every stage in it.
    const [waterfall] = buildWaterfalls(traces);
    expect(waterfall?.rows.map((row) => row.stage)).toEqual(
      expect.arrayContaining(["planner", "policy", "executor", "summarizer"]),
    );
    // The stage's log lines about this request carry its requestId, stage, tool, attempt and the same trace id.
    const traceId = [...traceIds][0] ?? "";
    const lines = (pipeline.stages.get("executor") ?? [])
      .flatMap((stage) => stage.log.split("\n"))
      .filter((line) => line.includes(request.requestId))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines).toContainEqual(
      expect.objectContaining({ requestId: request.requestId, stage: "executor", attempt: 1, trace_id: traceId }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: "tool call done",
        requestId: request.requestId,
        stage: "executor",
        tool: "flaky-kb/search",
        attempt: 2,
        status: "SUCCEEDED",
        trace_id: traceId,
      }),
    );
  }, 90_000);

  it("a dead letter redriven to its origin is processed as a new attempt", async () => {
    const request: Request = {
      requestId: `e2e-redrive-${randomUUID()}`,
      tenant: "demo",
      input: "How long does shipping take?",
      workflow: null,
      metadata: {},
      submittedAt: Date.now(),
    };
    const bytes = await backbone.codec.encode("baton.requests", request);
    await producer.sendRaw([
      {
        topic: "baton.requests.dlq",
        key: request.requestId,
        value: bytes,
        headers: {
          [deadLetterHeaders.originTopic]: "baton.requests",
          [deadLetterHeaders.code]: "KAFKA_UNAVAILABLE",
          [deadLetterHeaders.reason]: "gave up after 4 attempts: broker down",
          "baton-attempt": "4",
        },
      },
    ]);
    const client = { backbone, producer, signer: undefined, close: () => Promise.resolve() };
    const letters = await findDeadLetters(client, { request: request.requestId });
    expect(letters).toHaveLength(1);
    expect(await redrive(client, letters)).toEqual([{ key: request.requestId, to: "baton.requests" }]);
    const response = await answer(request);
    expect(response.status).toBe("ANSWERED");
  });

  it("a run past its deadline is answered FAILED with what did complete, once", async () => {
    const request = await submit("shipping times", { tenant: "slow", workflow: "deadline-lookup" });
    const response = await answer(request, 20_000);
    expect(response.status).toBe("FAILED");
    expect(stepStatuses(response)).toEqual({ first: "SUCCEEDED", second: "TIMED_OUT", third: "SKIPPED" });
    expect(response.error).toMatch(/^the deadline passed at .+; completed: first$/);
    expect(response.completedAt - request.submittedAt).toBeLessThan(6_000);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    // Late duplicates would arrive by now; the watcher counts every response since the suite started.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(responses.count(request.requestId)).toBe(1);
  });

  it("a 60-second tool call causes no rebalance of the executors and runs once", async () => {
    const results = new TopicWatcher<unknown>({
      kafka: backbone.kafka,
      codec: backbone.codec,
      topic: "baton.tool-results",
    });
    await results.start();
    try {
      const executor = pipeline.stages.get("executor")?.[0];
      const joinsBefore = executor?.log.split('"msg":"partitions assigned"').length ?? 0;
      const request = await submit("shipping times", { tenant: "slow", workflow: "minute-lookup" });
      const response = await answer(request, 120_000);
      expect(response.status).toBe("ANSWERED");
      expect(response.steps).toEqual([expect.objectContaining({ stepId: "search", status: "SUCCEEDED", attempts: 1 })]);
      expect(response.steps[0]?.durationMs).toBeGreaterThanOrEqual(60_000);
      expect(results.count(request.requestId)).toBe(1);
      expect(executor?.log.split('"msg":"partitions assigned"').length ?? 0).toBe(joinsBefore);
    } finally {
      await results.stop();
    }
  }, 150_000);

  it("each stage serves Prometheus metrics (lag, throughput, tool calls) and health endpoints", async () => {
    const request = await submit("How long does shipping take?");
    expect((await answer(request)).status).toBe("ANSWERED");
    for (const stage of ["planner", "policy", "executor", "summarizer"] as const) {
      const log = pipeline.stages.get(stage)?.at(-1)?.log ?? "";
      const port = Number(/"metricsPort":(\d+)/.exec(log)?.[1]);
      expect(port).toBeGreaterThan(0);
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(text).toMatch(new RegExp(`baton_consumer_lag\\{[^}]*stage="${stage}"[^}]*\\} \\d+`));
      expect(text).toMatch(/baton_messages_in_total\{[^}]*\} [1-9]/);
      expect(text).toMatch(/baton_processing_seconds_count\{[^}]*\} [1-9]/);
      if (stage === "executor") {
        expect(text).toMatch(
          /baton_tool_calls_total\{[^}]*tool="knowledge-base\/search"[^}]*status="SUCCEEDED"[^}]*\} [1-9]/,
        );
        expect(text).toMatch(/baton_tool_call_seconds_count\{[^}]*tool="knowledge-base\/search"[^}]*\} [1-9]/);
        expect(text).toContain("baton_tool_calls_in_flight");
      }
    }
  });

  it("with an LLM configured, the planner runs the LLM's plan, and an invalid plan is a clear FAILED", async () => {
    const prompts: string[] = [];
    const llm = createServer((incoming, outgoing) => {
      let body = "";
      incoming.on("data", (chunk: Buffer) => (body += chunk.toString()));
      incoming.on("end", () => {
        const { messages } = JSON.parse(body) as { messages: Array<{ role: string; content: string }> };
        const prompt = messages.find((message) => message.role === "user")?.content ?? "";
        prompts.push(prompt);
        const plan = prompt.includes("use a tool that does not exist")
          ? { steps: [{ id: "ghost", tool: "nosuch/tool", arguments: {} }] }
          : {
              steps: [
                { id: "search", tool: "knowledge-base/search", arguments: { query: "{{ request.input }}" } },
                {
                  id: "ticket",
                  tool: "ticketing/create_ticket",
                  arguments: { subject: "LLM", body: "{{ request.input }}" },
                },
              ],
              answer: [
                { text: "Planned: {{ steps.search.output.answer }} Ticket {{ steps.ticket.output.ticketId }}." },
              ],
            };
        outgoing.setHeader("content-type", "application/json");
        outgoing.end(
          JSON.stringify({
            id: "chatcmpl-e2e",
            object: "chat.completion",
            created: Math.floor(Date.now() / 1000),
            model: "e2e-model",
            choices: [
              { index: 0, message: { role: "assistant", content: JSON.stringify(plan) }, finish_reason: "stop" },
            ],
          }),
        );
      });
    });
    await new Promise<void>((resolve) => llm.listen(0, "127.0.0.1", resolve));
    const { port } = llm.address() as AddressInfo;
    try {
      expect(await pipeline.stopStage("planner")).toEqual([0]);
      await pipeline.startStage("planner", {
        LLM_PROVIDER: "openai",
        LLM_MODEL: "e2e-model",
        LLM_BASE_URL: `http://127.0.0.1:${port}/v1`,
      });
      const planned = await submit("How long does shipping take?");
      const invalid = await submit("Please use a tool that does not exist");
      const [good, bad] = await Promise.all([answer(planned), answer(invalid)]);
      expect(good.status).toBe("ANSWERED");
      expect(stepStatuses(good)).toEqual({ search: "SUCCEEDED", ticket: "SUCCEEDED" });
      expect(good.answer).toMatch(/^Planned: Standard shipping takes .+ Ticket TCK-\d+\.$/s);
      expect(bad.status).toBe("FAILED");
      expect(bad.error).toBe("invalid plan from the LLM: step ghost uses unknown tool nosuch/tool");
      expect(
        prompts.some((prompt) => prompt.includes("knowledge-base/search") && prompt.includes("customer-support")),
      ).toBe(true);
    } finally {
      await pipeline.stopStage("planner");
      await pipeline.startStage("planner");
      llm.close();
    }
  });
});
