import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { TopicWatcher } from "../../shared/kafka/topic-watcher.ts";
import type { Request, Response } from "../../shared/schemas/records.ts";
import { eventually, openHarness, type Harness } from "../integration/harness.ts";
import { e2eConfiguration, TestPipeline } from "./pipeline.ts";

// Triggers against the real stack: the four stages and `baton triggers` instances as real processes (run under the
// stack lock: the stages use the stack's consumer groups).
const root = fileURLToPath(new URL("../..", import.meta.url));
const triggerTopic = "test.trigger-orders";

/** A `baton triggers` process with its captured log. */
interface TriggersInstance {
  process: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}

let harness: Harness;
let pipeline: TestPipeline;
let producer: BatonProducer;
let requests: TopicWatcher<Request>;
let responses: TopicWatcher<Response>;
const instances: TriggersInstance[] = [];

beforeAll(async () => {
  harness = await openHarness("baton-e2e-triggers");
  const { kafka, codec, tracing } = harness.backbone;
  producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
  await harness.createTopic(triggerTopic, { partitions: 1 });
  requests = new TopicWatcher<Request>({ kafka, codec, topic: "baton.requests", keepAll: true });
  responses = new TopicWatcher<Response>({ kafka, codec, topic: "baton.responses", keepAll: true });
  await Promise.all([requests.start(), responses.start()]);
  pipeline = await TestPipeline.start({
    ...e2eConfiguration,
    workflowsDirs: [...e2eConfiguration.workflowsDirs, "test/e2e/cron-trigger", "test/e2e/topic-trigger"],
  });
}, 180_000);

afterAll(async () => {
  for (const instance of instances) instance.process.kill("SIGTERM");
  await Promise.all(instances.map((instance) => instance.exited));
  const stopped = await pipeline.stop();
  await Promise.all([requests.stop(), responses.stop()]);
  await producer.disconnect();
  await harness.close();
  expect(stopped.filter((stage) => stage.code !== 0)).toEqual([]);
}, 60_000);

/** Starts `baton triggers` on one workflows folder and waits until its triggers run. */
async function startTriggers(workflowsDir: string, groupId: string): Promise<TriggersInstance> {
  const child = spawn(
    process.execPath,
    ["--disable-warning=TimeoutNegativeWarning", join(root, "cli/main.ts"), "triggers"],
    {
      cwd: root,
      env: {
        ...process.env,
        ...pipeline.env,
        WORKFLOWS_DIR: join(root, workflowsDir),
        TRIGGERS_GROUP_ID: groupId,
        METRICS_PORT: "0",
        BATON_LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const instance: TriggersInstance = {
    process: child,
    log: "",
    exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))),
  };
  child.stdout?.on("data", (chunk: Buffer) => (instance.log += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (instance.log += chunk.toString()));
  instances.push(instance);
  const deadline = Date.now() + 60_000;
  while (!instance.log.includes('"msg":"triggers running"')) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`baton triggers did not start (exit ${child.exitCode}); its log:\n${instance.log.slice(-3000)}`);
    await sleep(200);
  }
  return instance;
}

async function stopTriggers(instance: TriggersInstance): Promise<number | null> {
  instance.process.kill("SIGTERM");
  return instance.exited;
}

/** The `trigger fired` log lines of an instance, as the requestIds it wrote. */
function firedBy(instance: TriggersInstance): string[] {
  return instance.log
    .split("\n")
    .filter((line) => line.includes('"msg":"trigger fired"'))
    .map((line) => (JSON.parse(line) as { requestId: string }).requestId);
}

describe("triggers", () => {
  it("a cron trigger every 2 s with two instances running starts one run per period", async () => {
    const prefix = "trigger:scheduled-lookup:every-two-seconds:";
    const groupId = `baton-triggers-e2e-${randomUUID()}`;
    const first = await startTriggers("test/e2e/cron-trigger", groupId);
    const second = await startTriggers("test/e2e/cron-trigger", groupId);
    await sleep(11_000);
    expect(await Promise.all([stopTriggers(first), stopTriggers(second)])).toEqual([0, 0]);

    // Both instances fired: the periods run once because of the derived requestId, not because one stayed idle.
    const firstFired = firedBy(first).filter((id) => id.startsWith(prefix));
    const secondFired = firedBy(second).filter((id) => id.startsWith(prefix));
    expect(firstFired.length).toBeGreaterThanOrEqual(5);
    expect(secondFired.length).toBeGreaterThanOrEqual(5);
    const both = firstFired.filter((id) => secondFired.includes(id));
    expect(both.length).toBeGreaterThanOrEqual(4);

    // The requests on baton.requests: per period one requestId, whose instant is on the 2 s grid, with no gap.
    const ids = await eventually(() => {
      const seen = [...new Set(requests.matching((key) => key.startsWith(prefix)).map((message) => message.key))];
      return seen.length >= new Set([...firstFired, ...secondFired]).size ? seen : undefined;
    });
    const instants = ids.map((id) => Date.parse((id ?? "").slice(prefix.length))).sort((a, b) => a - b);
    for (const instant of instants) expect(instant % 2_000).toBe(0);
    for (let index = 1; index < instants.length; index += 1)
      expect((instants[index] ?? 0) - (instants[index - 1] ?? 0)).toBe(2_000);
    // Some period was written twice (once by each instance) ...
    const written = ids.map((id) => requests.count(id ?? ""));
    expect(Math.max(...written)).toBeGreaterThanOrEqual(2);

    // ... and every period got exactly one run: one response each, none twice.
    for (const id of ids) await responses.waitFor(id ?? "", 60_000);
    await sleep(3_000);
    for (const id of ids) {
      expect(responses.count(id ?? "")).toBe(1);
      expect(responses.latest(id ?? "")?.value.status).toBe("ANSWERED");
    }
  }, 180_000);

  describe("a topic trigger", () => {
    const groupId = `baton-triggers-e2e-${randomUUID()}`;
    const orders = {
      first: `A-${randomUUID().slice(0, 8)}`,
      paid: `P-${randomUUID().slice(0, 8)}`,
      second: `B-${randomUUID().slice(0, 8)}`,
    };
    const requestIdsOf = (orderId: string): string[] =>
      requests
        .matching((key) => key.startsWith("trigger:order-lookup:new-order:"))
        .filter((message) => message.value.metadata.orderId === orderId)
        .map((message) => message.key ?? "");
    let readers: TriggersInstance[] = [];

    it("starts one run per matching record and none for a non-matching or undecodable one", async () => {
      readers = [
        await startTriggers("test/e2e/topic-trigger", groupId),
        await startTriggers("test/e2e/topic-trigger", groupId),
      ];
      const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
      // One partition: the records are read in this order, so once the last one fired the others were handled.
      await producer.sendRaw([
        {
          topic: triggerTopic,
          key: orders.first,
          value: json({ status: "NEW", orderId: orders.first, question: "How long does shipping take?" }),
        },
        { topic: triggerTopic, key: orders.paid, value: json({ status: "PAID", orderId: orders.paid, question: "x" }) },
        { topic: triggerTopic, key: "garbage", value: Buffer.from("status=NEW; not json") },
        {
          topic: triggerTopic,
          key: orders.second,
          value: json({ status: "NEW", orderId: orders.second, question: "Can I return a damaged item?" }),
        },
      ]);
      const second = await eventually(() => requestIdsOf(orders.second)[0], 30_000);
      const first = requestIdsOf(orders.first);
      expect(first).toHaveLength(1);
      expect(requestIdsOf(orders.paid)).toEqual([]);
      expect(second).toMatch(new RegExp(`^trigger:order-lookup:new-order:${triggerTopic}:0:\\d+:\\d+$`));
      const firstRequest = requests.matching((key) => key === first[0])[0]?.value;
      expect(firstRequest).toMatchObject({
        tenant: "demo",
        workflow: "order-lookup",
        input: "How long does shipping take?",
        metadata: { orderId: orders.first, triggeredBy: "order-lookup.new-order" },
      });
      for (const id of [first[0] ?? "", second]) {
        const response = await responses.waitFor(id, 60_000);
        expect(response.value.status).toBe("ANSWERED");
      }
      // The record that is not JSON was skipped, and the reader said why.
      const logs = readers.map((reader) => reader.log).join("\n");
      const skipped = logs.split("\n").find((line) => line.includes('"msg":"trigger record skipped"'));
      expect(skipped).toContain('"reason":"not JSON:');
      expect(skipped).toContain(`"topic":"${triggerTopic}"`);
    }, 120_000);

    it("a record read again after the group is rewound and the instances restarted is still one run", async () => {
      const ids = [requestIdsOf(orders.first)[0] ?? "", requestIdsOf(orders.second)[0] ?? ""];
      expect(ids.every((id) => id !== "")).toBe(true);
      expect(await Promise.all(readers.map(stopTriggers))).toEqual([0, 0]);
      await harness.admin.resetGroupOffsets(groupId, triggerTopic, "earliest");
      readers = [await startTriggers("test/e2e/topic-trigger", groupId)];
      // The same records make the same requestIds, written a second time ...
      await eventually(() => (ids.every((id) => requests.count(id) >= 2) ? true : undefined), 30_000);
      expect(requestIdsOf(orders.paid)).toEqual([]);
      // ... which the planner recognises: no second run, no second response.
      await sleep(5_000);
      for (const id of ids) expect(responses.count(id)).toBe(1);
      expect(await stopTriggers(readers[0] as TriggersInstance)).toBe(0);
    }, 120_000);
  });
});
