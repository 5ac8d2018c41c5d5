import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { backboneConfigSchema, parseConfig } from "../../shared/config.ts";
import { createBackbone, type Backbone } from "../../shared/backbone.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import { BatonAdmin } from "../../shared/kafka/admin.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { TopicWatcher } from "../../shared/kafka/topic-watcher.ts";
import { readToEnd } from "../../shared/kafka/topic-reader.ts";
import type {
  ApprovalDecision,
  ApprovalRequest,
  PolicyDecision,
  Request,
  Response,
} from "../../shared/schemas/records.ts";
import { replayTopics, stageInputs } from "../../shared/topics.ts";
import type { ReplayReport } from "../../cli/replay-command.ts";
import { TestPipeline } from "./pipeline.ts";
import { eventually } from "../integration/harness.ts";

// `baton replay` against the real stack, real stages and real MCP servers (run under the stack lock: it starts the
// stages, which use the live consumer groups).
const root = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

let pipeline: TestPipeline;
let backbone: Backbone;
let admin: BatonAdmin;
let producer: BatonProducer;
let responses: TopicWatcher<Response>;
let support: Request;
let supportCustomer: string;

beforeAll(async () => {
  const config = parseConfig(backboneConfigSchema, { OTEL_TRACES_EXPORTER: "none" });
  backbone = createBackbone(
    "baton-e2e-replay-run",
    config,
    createLogger({ service: "baton-e2e-replay-run", level: "warn" }),
  );
  admin = await BatonAdmin.connect(backbone.kafka);
  producer = await BatonProducer.connect({
    kafka: backbone.kafka,
    codec: backbone.codec,
    tracer: backbone.tracing.tracer,
  });
  responses = new TopicWatcher<Response>({ kafka: backbone.kafka, codec: backbone.codec, topic: "baton.responses" });
  await responses.start();
  pipeline = await TestPipeline.start();
  supportCustomer = `replay-${randomUUID().slice(0, 8)}@example.com`;
  support = await submit("My order #1234 arrived damaged and I want a refund", { customerEmail: supportCustomer });
  expect((await responses.waitFor(support.requestId, 30_000)).value.status).toBe("ANSWERED");
}, 180_000);

afterAll(async () => {
  const stopped = await pipeline.stop();
  await responses.stop();
  await producer.disconnect();
  await admin.disconnect();
  await backbone.tracing.shutdown();
  expect(stopped.filter((stage) => stage.code !== 0)).toEqual([]);
}, 60_000);

/** Runs the `baton` CLI with the pipeline's workflows, policy and servers; resolves with its exit code and output. */
async function baton(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ["--disable-warning=TimeoutNegativeWarning", join(root, "cli/main.ts"), ...args],
      {
        cwd: root,
        env: { ...process.env, ...pipeline.env, OTEL_TRACES_EXPORTER: "none", ...env },
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

async function submit(input: string, metadata: Record<string, string> = {}): Promise<Request> {
  const request: Request = {
    requestId: `e2e-replay-run-${randomUUID()}`,
    tenant: "demo",
    input,
    workflow: null,
    metadata,
    submittedAt: Date.now(),
  };
  await producer.send([{ topic: "baton.requests", key: request.requestId, value: request }]);
  return request;
}

async function jsonLines(file: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(join(pipeline.toolsDataDir, file), "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The side effects of the support request: its tickets and the emails to its customer. */
async function sideEffects(): Promise<{ tickets: number; emails: number }> {
  const tickets = (await jsonLines("tickets.jsonl")).filter(
    (ticket) => ticket.subject === `Support request ${support.requestId}`,
  );
  const emails = (await jsonLines("outbox.jsonl")).filter((mail) => mail.to === supportCustomer);
  return { tickets: tickets.length, emails: emails.length };
}

async function messagesAbout(topic: string, requestId: string) {
  const { messages } = await readToEnd({
    kafka: backbone.kafka,
    codec: backbone.codec,
    topics: [topic],
    keys: (key) => key === requestId || (key?.startsWith(`${requestId}/`) ?? false),
  });
  return messages;
}

/** A copy of the shipped workflows with customer-support's file changed by `edit`. */
async function changedWorkflows(edit: (text: string) => string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "baton-replay-workflows-"));
  await cp(join(root, "workflows"), dir, { recursive: true });
  const file = join(dir, "customer-support.yaml");
  const before = await readFile(file, "utf8");
  const after = edit(before);
  expect(after).not.toBe(before);
  await writeFile(file, after);
  return [dir, join(root, "test/e2e/workflows")].join(",");
}

describe("baton replay", () => {
  it("a support request whose ticket step ran, replayed unchanged, is the same and opens no ticket and sends no email", async () => {
    expect(await sideEffects()).toEqual({ tickets: 1, emails: 1 });

    const replay = await baton(["replay", support.requestId]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain(`${support.requestId}  same  (3 calls answered from the record)`);

    const json = await baton(["replay", support.requestId, "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as ReplayReport;
    expect(report.verdicts).toMatchObject([
      { requestId: support.requestId, verdict: "same", diffs: [], newCalls: [], recordedCalls: 3 },
    ]);
    expect(await sideEffects()).toEqual({ tickets: 1, emails: 1 });
  });

  it("a workflow whose answer template changed shows the new answer text, exit 1, and still no new ticket or email", async () => {
    const workflows = await changedWorkflows((text) =>
      text.replace(
        "I opened ticket {{ steps.ticket.output.ticketId }} so a person can take it from here.",
        "Ticket {{ steps.ticket.output.ticketId }} is open: a colleague replies within one business day.",
      ),
    );
    const replay = await baton(["replay", support.requestId, "--workflows", workflows]);
    expect(replay.code, replay.stderr).toBe(1);
    expect(replay.stdout).toContain(`${support.requestId}  changed  (3 calls answered from the record)`);
    expect(replay.stdout).toMatch(
      / {2}answer:\n(?: {4}.*\n)*? {4}- I opened ticket TCK-\d+ so a person can take it from here\./,
    );
    expect(replay.stdout).toMatch(/ {4}\+ Ticket TCK-\d+ is open: a colleague replies within one business day\./);
    expect(replay.stdout).not.toMatch(/^ {2}(plan|steps|decisions):$/m);
    expect(await sideEffects()).toEqual({ tickets: 1, emails: 1 });
  });

  it("a policy change that denies a tool shows as a changed decision, and the denied call runs nowhere", async () => {
    const dir = await mkdtemp(join(tmpdir(), "baton-replay-policy-"));
    const policyFile = join(dir, "policy.yaml");
    const policy = await readFile(join(root, "test/e2e/policy.yaml"), "utf8");
    const denying = policy.replace(
      'allow: ["knowledge-base/*", "ticketing/*", "outbox/*", "stuck-ticketing/*"]',
      'allow: ["knowledge-base/*", "ticketing/*", "outbox/*", "stuck-ticketing/*"]\n      deny: ["outbox/send_email"]',
    );
    expect(denying).not.toBe(policy);
    await writeFile(policyFile, denying);

    const replay = await baton(["replay", support.requestId, "--policy", policyFile, "--json"]);
    expect(replay.code, replay.stderr).toBe(1);
    const [verdict] = (JSON.parse(replay.stdout) as ReplayReport).verdicts;
    expect(verdict?.verdict).toBe("changed");
    const decisions = verdict?.diffs.find((diff) => diff.part === "decisions");
    expect(decisions?.removed).toContain("TOOL_CALL ALLOW notify outbox/send_email -");
    expect(decisions?.added).toContain("TOOL_CALL DENY notify outbox/send_email tool-denied");
    expect(verdict?.diffs.find((diff) => diff.part === "answer")?.added).toContain("status REFUSED");
    expect(verdict?.recordedCalls).toBe(2);
    expect(verdict?.newCalls).toEqual([]);
    expect(await sideEffects()).toEqual({ tickets: 1, emails: 1 });
  });

  it("new calls never reach a tool with side effects; with --tools read-only a new read-only call is made", async () => {
    const workflows = await changedWorkflows((text) =>
      text
        .replace("limit: 3", "limit: 2")
        .replace('subject: "Support request {{ request.requestId }}"', 'subject: "Case {{ request.requestId }}"'),
    );
    const replay = await baton([
      "replay",
      support.requestId,
      "--workflows",
      workflows,
      "--tools",
      "read-only",
      "--json",
    ]);
    expect(replay.code, replay.stderr).toBe(1);
    const [verdict] = (JSON.parse(replay.stdout) as ReplayReport).verdicts;
    // The search with another limit went to the (read-only) knowledge base; the ticket with another subject is new.
    expect(verdict?.readOnlyCalls).toBe(1);
    expect(verdict?.newCalls.map((call) => `${call.stepId} ${call.tool}`)).toEqual(["ticket ticketing/create_ticket"]);
    expect(verdict?.diffs.find((diff) => diff.part === "steps")?.added).toEqual(
      expect.arrayContaining([expect.stringMatching(/^ticket ticketing\/create_ticket FAILED .*not called by replay/)]),
    );
    const caseTickets = (await jsonLines("tickets.jsonl")).filter(
      (ticket) => ticket.subject === `Case ${support.requestId}`,
    );
    expect(caseTickets).toEqual([]);
    expect(await sideEffects()).toEqual({ tickets: 1, emails: 1 });
  });

  it("a refund a person approved replays the same: the recorded decision is applied again, no second refund", async () => {
    const orderId = `replay-${randomUUID().slice(0, 8)}`;
    const refund: Request = {
      requestId: `e2e-replay-run-${randomUUID()}`,
      tenant: "demo",
      input: `Refund order ${orderId}`,
      workflow: "refund",
      metadata: { orderId, amount: "120" },
      submittedAt: Date.now(),
    };
    await producer.send([{ topic: "baton.requests", key: refund.requestId, value: refund }]);
    const pending = await eventually(async () => {
      const [waiting] = await messagesAbout("baton.approval-requests", refund.requestId);
      return waiting?.value as ApprovalRequest | undefined;
    }, 30_000);
    const { ruleId: _rule, reason: _reason, requestedAt: _at, ...call } = pending;
    const decision: ApprovalDecision = {
      ...call,
      approved: true,
      approver: "e2e",
      comment: null,
      decidedAt: Date.now(),
    };
    await producer.send([{ topic: "baton.approvals", key: refund.requestId, value: decision }]);
    expect((await responses.waitFor(refund.requestId, 30_000)).value.status).toBe("ANSWERED");
    const refunds = async () => (await jsonLines("refunds.jsonl")).filter((entry) => entry.orderId === orderId);
    expect(await refunds()).toHaveLength(1);

    const replay = await baton(["replay", refund.requestId, "--json"]);
    expect(replay.code, replay.stderr).toBe(0);
    const [verdict] = (JSON.parse(replay.stdout) as ReplayReport).verdicts;
    expect(verdict).toMatchObject({ verdict: "same", recordedCalls: 2, newCalls: [] });
    const approved = await messagesAbout("baton.replay-policy-decisions", refund.requestId);
    expect(
      approved.filter(
        (message) =>
          message.headers["baton-replay"] === (JSON.parse(replay.stdout) as ReplayReport).replayId &&
          (message.value as PolicyDecision).action === "APPROVED",
      ),
    ).toHaveLength(1);
    expect(await refunds()).toHaveLength(1);
  });

  it("a window of N requests replayed with nothing changed reports N same", async () => {
    const from = Date.now() - 1;
    const submitted: Request[] = [];
    for (const [index, input] of [
      "How long does shipping take?",
      "What is your warranty on electronics?",
      "My parcel arrived broken",
      "How do I reset my password?",
      "How long does shipping take to Norway?",
    ].entries()) {
      submitted.push(await submit(input, index % 2 === 0 ? { customerEmail: `window-${index}@example.com` } : {}));
    }
    for (const request of submitted) await responses.waitFor(request.requestId, 30_000);
    const to = Date.now();

    const json = await baton(["replay", "--from", String(from), "--to", String(to), "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as ReplayReport;
    expect(report.verdicts.map((verdict) => verdict.requestId).sort()).toEqual(
      submitted.map((request) => request.requestId).sort(),
    );
    expect(report.verdicts.every((verdict) => verdict.verdict === "same")).toBe(true);

    const table = await baton(["replay", "--from", String(from), "--to", String(to), "--sample", "3"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^same\s+changed\s+failed to replay\n3\s+0\s+0\s*$/m);
  });

  it("nothing of a replay reaches baton.responses or a live consumer group; its records carry baton-replay", async () => {
    const replay = await baton(["replay", support.requestId, "--json"], { BATON_LOG_LEVEL: "debug" });
    expect(replay.code, replay.stderr).toBe(0);
    const { replayId } = JSON.parse(replay.stdout) as ReplayReport;

    // Its log lines say replay; its records are in the replay namespace, marked.
    const logged = replay.stderr
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { replay?: string; msg?: string; requestId?: string });
    expect(logged).toContainEqual(
      expect.objectContaining({ replay: replayId, requestId: support.requestId, msg: "request replayed" }),
    );
    const replayed = await messagesAbout("baton.replay-responses", support.requestId);
    const ours = replayed.filter((message) => message.headers["baton-replay"] === replayId);
    expect(ours).toHaveLength(1);
    expect((ours[0]?.value as Response).status).toBe("ANSWERED");

    // The live topics hold the original run alone, after all the replays of this file.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await messagesAbout("baton.responses", support.requestId)).toHaveLength(1);
    expect(await messagesAbout("baton.drafts", support.requestId)).toHaveLength(1);
    expect(await messagesAbout("baton.tool-calls", support.requestId)).toHaveLength(3);
    expect(await messagesAbout("baton.allowed-calls", support.requestId)).toHaveLength(3);
    // No live group has ever read a replay topic.
    for (const stage of Object.keys(stageInputs)) {
      for (const topic of replayTopics) {
        const committed = await admin.committedOffsets(`baton-${stage}`, topic.name);
        expect(
          [...committed.values()].filter((offset) => offset !== null),
          `baton-${stage} on ${topic.name}`,
        ).toEqual([]);
      }
    }
    const stageLogs = pipeline.instances.map((instance) => instance.log).join("\n");
    expect(stageLogs).not.toContain(replayId);
  });

  it("flags that do not fit together exit 2 and say what to do", async () => {
    const none = await baton(["replay"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("give one or more request ids, or a window with --from and --to");
    const status = await baton(["replay", "--from", "2026-11-30T00:00:00Z", "--to", "x"]);
    expect(status.code).toBe(2);
    expect(status.stderr).toContain("expected an ISO time");
    const unknown = await baton(["replay", `e2e-replay-run-unknown-${randomUUID()}`]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no request e2e-replay-run-unknown-\S+ on the topics/);
  });
});
