import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { StageRunner } from "../../shared/kafka/stage-runner.ts";
import { TopicWatcher } from "../../shared/kafka/topic-watcher.ts";
import type { Request } from "../../shared/schemas/records.ts";
import { eventually, killBroker, openHarness, sampleRequest, startBroker, type Harness } from "./harness.ts";

// Membership changes are routine: members join, leave gracefully and get partitions back all day. These tests run
// transactional runners through them against the real broker and check what reaches the output topic (read
// committed): every input exactly once.
describe("stage runner under membership changes", () => {
  let harness: Harness;
  let producer: BatonProducer;

  beforeAll(async () => {
    harness = await openHarness("test-elastic-runner");
    const { kafka, codec, tracing } = harness.backbone;
    producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
  });

  afterAll(async () => {
    await producer.disconnect();
    await harness.close();
  });

  /** A transactional relay runner in this process: every request from `input` to `output`. */
  function relay(groupId: string, input: string, output: string): StageRunner<Request> {
    const { kafka, codec, tracing, logger } = harness.backbone;
    return new StageRunner<Request>({
      stage: "relay",
      groupId,
      topics: [input],
      kafka,
      codec,
      producer,
      tracer: tracing.tracer,
      logger,
      sessionTimeoutMs: 6_000,
      transactionalProducer: (transactionalId) =>
        BatonProducer.connect({ kafka, codec, tracer: tracing.tracer, transactionalId }),
      handler: (message) =>
        Promise.resolve({ messages: [{ topic: output, key: message.value.requestId, value: message.value }] }),
    });
  }

  async function send(input: string, ids: string[]): Promise<void> {
    await producer.send(ids.map((id) => ({ topic: input, key: id, value: sampleRequest(id) })));
  }

  async function allRelayedOnce(watcher: TopicWatcher<Request>, ids: string[], timeoutMs = 45_000): Promise<void> {
    await eventually(() => (ids.every((id) => watcher.count(id) >= 1) ? true : undefined), timeoutMs);
    for (const id of ids) expect(watcher.count(id), id).toBe(1);
  }

  it("partitions that go back to a member that held them before are processed, each message once", async () => {
    const input = harness.uniqueTopic("elastic-in");
    const output = harness.uniqueTopic("elastic-out");
    await harness.createTopic(input, { record: "baton.Request", partitions: 4 });
    await harness.createTopic(output, { record: "baton.Request", partitions: 4 });
    const { kafka, codec } = harness.backbone;
    const watcher = new TopicWatcher<Request>({ kafka, codec, topic: output });
    await watcher.start();
    const groupId = `test-elastic-${randomUUID()}`;
    const batch = (round: number): string[] => Array.from({ length: 12 }, (_, index) => `r${round}-${index}`);
    const first = relay(groupId, input, output);
    let second: StageRunner<Request> | undefined;
    let third: StageRunner<Request> | undefined;
    try {
      await first.start();
      await eventually(() => (first.ownedPartitions.length === 4 ? true : undefined), 30_000);
      await send(input, batch(1));
      await allRelayedOnce(watcher, batch(1));

      second = relay(groupId, input, output);
      await second.start();
      await eventually(
        () => (first.ownedPartitions.length === 2 && second?.ownedPartitions.length === 2 ? true : undefined),
        30_000,
      );
      const keptByFirst = first.ownedPartitions;
      await send(input, batch(2));
      await allRelayedOnce(watcher, batch(2));

      // The second leaves gracefully: its partitions go back to the first, whose producers for them were fenced.
      await second.stop();
      second = undefined;
      await eventually(() => (first.ownedPartitions.length === 4 ? true : undefined), 30_000);
      await send(input, batch(3));
      await allRelayedOnce(watcher, batch(3));

      // A third joins: the first keeps partitions it held (sticky), then leaves, and the third gets all of them back.
      third = relay(groupId, input, output);
      await third.start();
      await eventually(() => (third?.ownedPartitions.length === 2 ? true : undefined), 30_000);
      expect(first.ownedPartitions).toEqual(keptByFirst);
      await first.stop();
      await eventually(() => (third?.ownedPartitions.length === 4 ? true : undefined), 30_000);
      await send(input, batch(4));
      await allRelayedOnce(watcher, [...batch(1), ...batch(2), ...batch(3), ...batch(4)]);
    } finally {
      await second?.stop();
      await third?.stop();
      await first.stop();
      await watcher.stop();
    }
  }, 180_000);

  it("a member frozen past its session timeout cannot commit after its partition moved, and the new owner processes it once", async () => {
    const input = harness.uniqueTopic("stale-in");
    const output = harness.uniqueTopic("stale-out");
    await harness.createTopic(input, { record: "baton.Request" });
    await harness.createTopic(output, { record: "baton.Request" });
    const { kafka, codec } = harness.backbone;
    const watcher = new TopicWatcher<Request>({ kafka, codec, topic: output });
    await watcher.start();
    const groupId = `test-stale-${randomUUID()}`;
    let childLog = "";
    const child: ChildProcess = spawn(process.execPath, ["test/integration/fixtures/relay-stage.ts"], {
      env: {
        ...process.env,
        RELAY_INPUT: input,
        RELAY_OUTPUT: output,
        RELAY_GROUP: groupId,
        RELAY_TRANSACTIONAL: "1",
        RELAY_SESSION_TIMEOUT_MS: "6000",
        RELAY_SLOW_INPUT: "slow",
        RELAY_SLOW_MS: "8000",
        OTEL_TRACES_EXPORTER: "none",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.stdout?.on("data", (chunk: Buffer) => (childLog += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (childLog += chunk.toString()));
    const takeover = relay(groupId, input, output);
    try {
      await eventually(() => (childLog.includes('"msg":"partitions assigned"') ? true : undefined), 60_000);
      const slowId = `slow-${randomUUID().slice(0, 6)}`;
      await producer.send([{ topic: input, key: slowId, value: sampleRequest(slowId, "slow") }]);
      await eventually(() => (childLog.includes(slowId) ? true : undefined), 20_000);
      // Frozen mid-message: it stops heartbeating, the group gives its partition to the new member.
      child.kill("SIGSTOP");
      await takeover.start();
      await eventually(() => (takeover.ownedPartitions.length === 1 ? true : undefined), 60_000);
      await eventually(() => (watcher.count(slowId) >= 1 ? true : undefined), 30_000);
      // Woken up, it finishes the message and tries to commit it: the broker refuses its fenced producer.
      child.kill("SIGCONT");
      await eventually(() => (/fenced or broken/.test(childLog) ? true : undefined), 30_000);
      const afterId = `after-${randomUUID().slice(0, 6)}`;
      await send(input, [afterId]);
      await eventually(() => (watcher.count(afterId) >= 1 ? true : undefined), 30_000);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(watcher.count(slowId)).toBe(1);
      expect(watcher.count(afterId)).toBe(1);
      expect(takeover.ownedPartitions).toEqual([0]);
      const committed = await eventually(async () => {
        const offset = (await harness.admin.groupOffsets(groupId, input)).get(0);
        return offset === "2" ? offset : undefined;
      }, 20_000);
      expect(committed).toBe("2");
    } catch (error) {
      console.log(`the frozen member's log:\n${childLog.split("\n").slice(-40).join("\n")}`);
      throw error;
    } finally {
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      await exited;
      await takeover.stop();
      await watcher.stop();
    }
  }, 180_000);

  it("a broker restart while a runner commits under load: every lane recovers in the same process, each message once", async () => {
    const input = harness.uniqueTopic("restart-in");
    const output = harness.uniqueTopic("restart-out");
    await harness.createTopic(input, { record: "baton.Request", partitions: 4 });
    await harness.createTopic(output, { record: "baton.Request", partitions: 4 });
    const { kafka, codec } = harness.backbone;
    const watcher = new TopicWatcher<Request>({ kafka, codec, topic: output });
    await watcher.start();
    const sent = new TopicWatcher<Request>({ kafka, codec, topic: input });
    await sent.start();
    const runner = relay(`test-restart-${randomUUID()}`, input, output);
    const ids: string[] = [];
    let sending = true;
    try {
      await runner.start();
      await eventually(() => (runner.ownedPartitions.length === 4 ? true : undefined), 30_000);
      // Sends go on through the outage.
      const load = (async () => {
        for (let index = 0; sending; index += 1) {
          const id = `restart-${index}`;
          // While the broker is down a send fails: the same message is sent again until it goes through.
          while (
            !(await send(input, [id]).then(
              () => true,
              () => false,
            ))
          )
            await new Promise((resolve) => setTimeout(resolve, 500));
          ids.push(id);
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      })();
      await eventually(() => (ids.length >= 40 ? true : undefined), 30_000);
      await killBroker();
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      await startBroker();
      const afterRestart = ids.length;
      await eventually(() => (ids.length >= afterRestart + 40 ? true : undefined), 60_000);
      sending = false;
      await load;
      // A send that failed as the broker went down may have been written all the same: compare with the input.
      // A kafkajs consumer may sit out its 30 s request timeout on a connection the restart broke before it reads on.
      await eventually(() => (ids.every((id) => sent.count(id) >= 1) ? true : undefined), 90_000);
      await eventually(() => (ids.every((id) => watcher.count(id) >= sent.count(id)) ? true : undefined), 90_000);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      for (const id of ids) expect(watcher.count(id), id).toBe(sent.count(id));
      expect(runner.ownedPartitions).toEqual([0, 1, 2, 3]);
    } finally {
      sending = false;
      await runner.stop();
      await watcher.stop();
      await sent.stop();
    }
  }, 360_000);
});
