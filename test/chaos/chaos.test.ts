import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backboneConfigSchema, parseConfig } from "../../shared/config.ts";
import { createBackbone, type Backbone } from "../../shared/backbone.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { readTopic } from "../../shared/kafka/topic-reader.ts";
import { TopicWatcher } from "../../shared/kafka/topic-watcher.ts";
import { deadLetterTopicName, topics } from "../../shared/topics.ts";
import type { Request, Response } from "../../shared/schemas/records.ts";
import { readPidFile } from "../../cli/stack/pid-file.ts";
import { resolveStackPaths } from "../../cli/stack/stack-paths.ts";
import { stackUp } from "../../cli/stack/stack.ts";
import type { StageName } from "../../cli/stage-commands.ts";
import { TestPipeline } from "../e2e/pipeline.ts";

// Two instances of every stage under steady load: kills every stage with SIGKILL (all its instances at once, or
// one while the other takes over its partitions), restarts the broker once, while the tools fail, crash and
// answer late; then checks that every request has exactly one response or a dead letter, and that no side effect
// (an email, a ticket) happened twice.
const requestCount = 150;
const perSecond = 5;
const run = randomUUID().slice(0, 8);

let pipeline: TestPipeline;
let backbone: Backbone;
let producer: BatonProducer;

let outbox: ChildProcess | undefined;
let stopping = false;

/** Runs the outbox MCP server like an external service, restarting it whenever an injected fault kills it. */
function superviseOutbox(dataDir: string): void {
  if (stopping) return;
  outbox = spawn(process.execPath, ["tools/outbox/server.ts"], {
    env: {
      ...process.env,
      OUTBOX_PORT: "18792",
      BATON_TOOLS_DATA_DIR: dataDir,
      BATON_TOOLS_FAULTS: "delay=5,crash=0.02,slow=0.03,slowms=2500",
    },
    stdio: "ignore",
  });
  outbox.once("exit", () => setTimeout(() => superviseOutbox(dataDir), 200));
}

async function outboxAnswers(): Promise<boolean> {
  return fetch("http://127.0.0.1:18792/healthz").then(
    (response) => response.ok,
    () => false,
  );
}

beforeAll(async () => {
  const toolsDataDir = await mkdtemp(join(tmpdir(), "baton-chaos-tools-"));
  superviseOutbox(toolsDataDir);
  for (let tries = 0; !(await outboxAnswers()); tries += 1) {
    if (tries > 100) throw new Error("the outbox MCP server did not start on 127.0.0.1:18792");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const config = parseConfig(backboneConfigSchema, { OTEL_TRACES_EXPORTER: "none" });
  backbone = createBackbone("baton-chaos", config, createLogger({ service: "baton-chaos", level: "silent" }));
  producer = await BatonProducer.connect({
    kafka: backbone.kafka,
    codec: backbone.codec,
    tracer: backbone.tracing.tracer,
  });
  pipeline = await TestPipeline.start({
    workflowsDirs: [],
    policyFile: "test/chaos/policy.yaml",
    serversFile: "test/chaos/mcp-servers.yaml",
    toolsDataDir,
  });
  for (const stage of ["planner", "policy", "executor", "summarizer"] as const) await pipeline.startStage(stage);
}, 180_000);

afterAll(async () => {
  stopping = true;
  outbox?.kill("SIGTERM");
  await pipeline.stop();
  await producer.disconnect();
  await backbone.tracing.shutdown();
}, 60_000);

function request(index: number): Request {
  const damaged = index % 2 === 0;
  return {
    requestId: `chaos-${run}-${index}`,
    tenant: "demo",
    input: damaged ? `My order #${index} arrived damaged and I want a refund` : "How long does shipping take?",
    workflow: "customer-support",
    // A run stuck on a lost message is answered by its deadline, inside the time this test waits.
    metadata: damaged
      ? { customerEmail: `chaos-${run}-${index}@example.com`, deadlineMs: "90000" }
      : { deadlineMs: "90000" },
    submittedAt: Date.now(),
  };
}

/** Kills every instance of a stage, then starts two again. */
async function restart(stage: StageName): Promise<void> {
  await pipeline.kill(stage);
  await pipeline.startStage(stage);
  await pipeline.startStage(stage);
}

/** Kills one instance of a stage (the other takes over its partitions), then starts a new one. */
async function replaceOne(stage: StageName): Promise<void> {
  await pipeline.killOne(stage);
  await pipeline.startStage(stage);
}

async function restartBroker(): Promise<void> {
  const kafkaPid = await readPidFile(join(resolveStackPaths().stackDir, "kafka", "pid"));
  if (kafkaPid === undefined) throw new Error("no Kafka pid: is the stack up?");
  process.kill(kafkaPid, "SIGKILL");
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await stackUp();
}

async function jsonLines(file: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(join(pipeline.toolsDataDir, file), "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function duplicates(values: unknown[]): number {
  const counts = new Map<unknown, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts.values()].reduce((sum, count) => sum + Math.max(0, count - 1), 0);
}

describe("chaos", () => {
  it("under kills of every stage, a broker restart and failing tools, nothing is lost and no side effect happens twice", async () => {
    const requests = Array.from({ length: requestCount }, (_, index) => request(index));
    const { kafka, codec } = backbone;
    const responses = new TopicWatcher<Response>({ kafka, codec, topic: "baton.responses" });
    const deadLetters = topics
      .filter((topic) => topic.deadLetter)
      .map((topic) => new TopicWatcher<unknown>({ kafka, codec, topic: deadLetterTopicName(topic.name) }));
    await Promise.all([responses, ...deadLetters].map((watcher) => watcher.start()));
    const chaos: Array<[number, () => Promise<void>]> = [
      [4_000, () => replaceOne("executor")],
      [8_000, () => replaceOne("planner")],
      [11_000, () => restart("policy")],
      [14_000, () => restart("summarizer")],
      [18_000, restartBroker],
      [22_000, () => restart("executor")],
      [25_000, () => restart("planner")],
      [27_000, () => replaceOne("policy")],
      [29_000, () => replaceOne("summarizer")],
    ];
    const started = Date.now();
    const load = (async () => {
      for (const [index, value] of requests.entries()) {
        const due = started + (index * 1000) / perSecond;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
        await producer.send([{ topic: "baton.requests", key: value.requestId, value }]);
      }
    })();
    for (const [at, action] of chaos) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + at - Date.now())));
      await action();
    }
    await load;

    const ids = [...new Set(requests.map((value) => value.requestId))];
    const deadLettered = (id: string): boolean => deadLetters.some((watcher) => watcher.count(id) > 0);
    const accounted = (id: string): boolean => responses.count(id) > 0 || deadLettered(id);
    const deadline = Date.now() + 150_000;
    while (!ids.every(accounted) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2_000));
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    await Promise.all([responses, ...deadLetters].map((watcher) => watcher.stop()));

    const answered = ids.filter((id) => responses.count(id) > 0).length;
    const deadLetteredCount = ids.filter(deadLettered).length;
    const lost = ids.filter((id) => !accounted(id));
    const duplicateResponses = ids.reduce((sum, id) => sum + Math.max(0, responses.count(id) - 1), 0);
    const emails = (await jsonLines("outbox.jsonl")).filter((email) => String(email.to).startsWith(`chaos-${run}-`));
    const tickets = (await jsonLines("tickets.jsonl")).filter((ticket) =>
      String(ticket.subject).includes(`chaos-${run}-`),
    );
    const duplicateEffects =
      duplicates(emails.map((email) => email.to)) + duplicates(tickets.map((ticket) => ticket.subject));
    const byStatus = new Map<string, number>();
    for (const id of ids) {
      const status = responses.latest(id)?.value.status;
      if (status !== undefined) byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    }

    console.log(
      `chaos: requests ${ids.length}, answered ${answered}, dead-lettered ${deadLetteredCount}, lost ${lost.length}, duplicate side effects ${duplicateEffects}` +
        ` (${[...byStatus].map(([status, count]) => `${status} ${count}`).join(", ")}; duplicate responses ${duplicateResponses}; emails ${emails.length}, tickets ${tickets.length})`,
    );
    if (lost.length > 0) {
      const runs = await readTopic({
        kafka: backbone.kafka,
        codec: backbone.codec,
        topic: "baton.runs",
        timeoutMs: 8_000,
        until: () => false,
      });
      for (const id of lost.slice(0, 10)) {
        const state = runs.filter((message) => message.key === id).at(-1)?.value as
          { status?: string; steps?: Array<{ stepId: string; status: string }> } | undefined;
        console.log(
          `lost ${id}: run ${state?.status ?? "none"} ${(state?.steps ?? []).map((step) => `${step.stepId}=${step.status}`).join(" ")}`,
        );
      }
      const problems = [...pipeline.stages.values()].flat().flatMap((stage) =>
        stage.log
          .split("\n")
          .filter((line) => /"level":(40|50|60)/.test(line) && !line.includes('"component":"kafkajs"'))
          .map((line) => `${stage.stage}: ${line.slice(0, 300)}`),
      );
      console.log(problems.slice(-40).join("\n"));
    }
    for (const id of ids.filter((candidate) => responses.count(candidate) > 1).slice(0, 5)) {
      const latest = responses.latest(id)?.value;
      console.log(
        `duplicate response ${id}: ${responses.count(id)} responses, latest ${latest?.status} ${latest?.error ?? ""}`,
      );
      for (const stage of [...pipeline.stages.values()].flat())
        for (const line of stage.log
          .split("\n")
          .filter((text) => text.includes(id))
          .slice(-10))
          console.log(`  ${stage.stage}: ${line.slice(0, 300)}`);
    }
    expect(lost).toEqual([]);
    expect(duplicateEffects).toBe(0);
    expect(duplicateResponses).toBe(0);
    expect(answered + deadLetteredCount).toBeGreaterThanOrEqual(ids.length);
  }, 600_000);
});
