import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
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
import type { Request, Response, ToolResult } from "../../shared/schemas/records.ts";
import type { HistoryEntry } from "../../cli/history-view.ts";
import { TestPipeline } from "./pipeline.ts";
import { eventually } from "../integration/harness.ts";

// `baton history` and `baton rewind` against the real stack and real stages (run under the stack lock: they use
// the stages' consumer groups).
const root = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

let pipeline: TestPipeline;
let backbone: Backbone;
let admin: BatonAdmin;
let producer: BatonProducer;
let responses: TopicWatcher<Response>;

beforeAll(async () => {
  const config = parseConfig(backboneConfigSchema, { OTEL_TRACES_EXPORTER: "none" });
  backbone = createBackbone("baton-e2e-replay", config, createLogger({ service: "baton-e2e-replay", level: "warn" }));
  admin = await BatonAdmin.connect(backbone.kafka);
  producer = await BatonProducer.connect({
    kafka: backbone.kafka,
    codec: backbone.codec,
    tracer: backbone.tracing.tracer,
  });
  responses = new TopicWatcher<Response>({ kafka: backbone.kafka, codec: backbone.codec, topic: "baton.responses" });
  await responses.start();
  pipeline = await TestPipeline.start();
}, 180_000);

afterAll(async () => {
  const stopped = await pipeline.stop();
  await responses.stop();
  await producer.disconnect();
  await admin.disconnect();
  await backbone.tracing.shutdown();
  expect(stopped.filter((stage) => stage.code !== 0)).toEqual([]);
}, 60_000);

/** Runs the `baton` CLI; resolves with its exit code and output, whatever the code. */
async function baton(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ["--disable-warning=TimeoutNegativeWarning", join(root, "cli/main.ts"), ...args],
      { cwd: root, env: { ...process.env, OTEL_TRACES_EXPORTER: "none" }, maxBuffer: 16 * 1024 * 1024 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

/** A support request that opens a ticket and emails the customer. */
async function submitSupportRequest(customerEmail: string): Promise<Request> {
  const request: Request = {
    requestId: `e2e-replay-${randomUUID()}`,
    tenant: "demo",
    input: "My order #1234 arrived damaged and I want a refund",
    workflow: null,
    metadata: { customerEmail },
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

async function messagesAbout(topic: string, requestId: string) {
  const { messages } = await readToEnd({
    kafka: backbone.kafka,
    codec: backbone.codec,
    topics: [topic],
    keys: (key) => key === requestId,
  });
  return messages;
}

describe("a request's history and a rewind", () => {
  it("history lists the request, plan, each call, decision and result, the draft and the response with offsets", async () => {
    const request = await submitSupportRequest("hana@example.com");
    const response = (await responses.waitFor(request.requestId, 30_000)).value;
    expect(response.status).toBe("ANSWERED");

    const json = await baton("history", request.requestId, "--json");
    expect(json.code, json.stderr).toBe(0);
    const history = JSON.parse(json.stdout) as { partition: number; entries: HistoryEntry[] };
    const entries = history.entries;
    const on = (topic: string) => entries.filter((entry) => entry.topic === topic).map((entry) => entry.what);
    expect(on("baton.requests")).toEqual([`request (tenant demo): "${request.input}"`]);
    expect(on("baton.runs")[0]).toBe(
      "plan: 3 steps (search knowledge-base/search, ticket ticketing/create_ticket, notify outbox/send_email), workflow customer-support",
    );
    expect(on("baton.tool-calls").map((what) => what.split(" ").slice(0, 3).join(" "))).toEqual([
      "call search knowledge-base/search",
      "call ticket ticketing/create_ticket",
      "call notify outbox/send_email",
    ]);
    expect(on("baton.tool-calls")[1]).toContain(`"subject":"Support request ${request.requestId}"`);
    const allowed = on("baton.policy-decisions").filter((what) => what.startsWith("policy ALLOW TOOL_CALL"));
    expect(allowed).toHaveLength(3);
    expect(on("baton.tool-results")).toEqual([
      expect.stringMatching(/^result search knowledge-base\/search SUCCEEDED attempts 1 /),
      expect.stringMatching(/^result ticket ticketing\/create_ticket SUCCEEDED attempts 1 /),
      expect.stringMatching(/^result notify outbox\/send_email SUCCEEDED attempts 1 /),
    ]);
    expect(on("baton.drafts")).toEqual([expect.stringMatching(/^draft ANSWERED: /)]);
    expect(on("baton.responses")).toEqual([expect.stringMatching(/^response ANSWERED: /)]);
    for (const entry of entries) {
      expect(entry.partition).toBe(history.partition);
      expect(Number(entry.offset)).toBeGreaterThanOrEqual(0);
    }
    const times = entries.map((entry) => entry.timestamp);
    expect(times).toEqual([...times].sort((a, b) => a - b));

    const table = await baton("history", request.requestId);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`baton\\.responses\\s+${history.partition}/\\d+\\s+response ANSWERED`));

    const unknown = await baton("history", `e2e-replay-unknown-${randomUUID()}`);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /no request e2e-replay-unknown-\S+ on the topics; was it submitted to this cluster\?/,
    );
  });

  it("a rewind of the executor to before a side-effecting call reads it again and calls nothing twice", async () => {
    const customer = `ivan-${randomUUID().slice(0, 8)}@example.com`;
    const request = await submitSupportRequest(customer);
    const response = (await responses.waitFor(request.requestId, 30_000)).value;
    expect(response.status).toBe("ANSWERED");
    const before = new Date(request.submittedAt - 1_000).toISOString();

    const refused = await baton("rewind", "executor", "--to", before, "--dry-run");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/baton-executor has 1 running member: \S+ on \S+ \(member \S+\)/);

    expect(await pipeline.stopStage("executor")).toEqual([0]);
    await eventually(async () =>
      (await admin.describeGroup("baton-executor")).members.length === 0 ? true : undefined,
    );
    const [call] = await messagesAbout("baton.allowed-calls", request.requestId);
    if (call === undefined) throw new Error("no allowed call for the request");
    const { partition } = call;
    const calls = await readToEnd({
      kafka: backbone.kafka,
      codec: backbone.codec,
      topics: [{ topic: "baton.allowed-calls", partitions: [partition] }],
    });
    const lastCall = calls.messages.reduce(
      (last, message) => (BigInt(message.offset) > last ? BigInt(message.offset) : last),
      0n,
    );

    const dryRun = await baton("rewind", "executor", "--to", before, "--dry-run", "--json");
    expect(dryRun.code, dryRun.stderr).toBe(0);
    const committedBefore = await admin.committedOffsets("baton-executor", "baton.allowed-calls");
    const rewound = await baton("rewind", "executor", "--to", before, "--json");
    expect(rewound.code, rewound.stderr).toBe(0);
    expect(rewound.stdout).toBe(dryRun.stdout.replace('"dryRun": true', '"dryRun": false'));
    const plan = JSON.parse(rewound.stdout) as {
      partitions: Array<{ topic: string; partition: number; next: string; readAgain: number }>;
    };
    const move = plan.partitions.find(
      (entry) => entry.topic === "baton.allowed-calls" && entry.partition === partition,
    );
    expect(move?.readAgain).toBeGreaterThanOrEqual(3);
    expect(BigInt(move?.next ?? "-1")).toBeLessThanOrEqual(BigInt(call.offset));
    expect(committedBefore.get(partition)).toBeGreaterThan(BigInt(call.offset));
    expect((await admin.committedOffsets("baton-executor", "baton.allowed-calls")).get(partition)).toBe(
      BigInt(move?.next ?? "-1"),
    );

    await pipeline.startStage("executor");
    // The executor reads the request's calls again and answers each from its idempotency records.
    const results = await eventually(async () => {
      const found = await messagesAbout("baton.tool-results", request.requestId);
      return found.length >= 6 ? found : undefined;
    }, 60_000);
    await eventually(async () => {
      const committed = (await admin.committedOffsets("baton-executor", "baton.allowed-calls")).get(partition);
      return committed !== null && committed !== undefined && committed > lastCall ? true : undefined;
    }, 60_000);
    const byStep = Map.groupBy(
      results.map((message) => message.value as ToolResult),
      (result) => result.stepId,
    );
    expect([...byStep.keys()].sort()).toEqual(["notify", "search", "ticket"]);
    for (const [step, stepResults] of byStep) {
      expect(stepResults, step).toHaveLength(2);
      expect(stepResults[1]?.output, step).toBe(stepResults[0]?.output);
    }

    const tickets = (await jsonLines("tickets.jsonl")).filter(
      (ticket) => ticket.subject === `Support request ${request.requestId}`,
    );
    expect(tickets).toHaveLength(1);
    expect((await jsonLines("outbox.jsonl")).filter((mail) => mail.to === customer)).toHaveLength(1);
    // The planner ignores results of steps it has recorded: no second draft, no second response.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await messagesAbout("baton.responses", request.requestId)).toHaveLength(1);
    expect(await messagesAbout("baton.drafts", request.requestId)).toHaveLength(1);
  });
});
