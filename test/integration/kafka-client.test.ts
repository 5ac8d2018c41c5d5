import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { StageRunner, type ReceivedMessage } from "../../shared/kafka/stage-runner.ts";
import { readTopic } from "../../shared/kafka/topic-reader.ts";
import { coordinatorLookups } from "../../shared/kafka/coordinator-cache.ts";
import type { Request } from "../../shared/schemas/records.ts";
import { eventually, openHarness, sampleRequest, type Harness } from "./harness.ts";

// Proves the Kafka client under shared/kafka (kafkajs 2.2.4) against the Kafka 4.x broker of the local stack:
// idempotent produce, group consume, manual commit, transactions with sendOffsets, and admin.
describe("kafka client against Kafka 4", () => {
  let harness: Harness;
  let producer: BatonProducer;

  beforeAll(async () => {
    harness = await openHarness("test-kafka-client");
    const { kafka, codec, tracing } = harness.backbone;
    producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
  });

  afterAll(async () => {
    await producer.disconnect();
    await harness.close();
  });

  function collectingRunner(topic: string, groupId: string, into: Request[]): StageRunner<Request> {
    const { kafka, codec, tracing, logger } = harness.backbone;
    return new StageRunner<Request>({
      stage: "test",
      groupId,
      topics: [topic],
      kafka,
      codec,
      producer,
      tracer: tracing.tracer,
      logger,
      handler: (message: ReceivedMessage<Request>) => {
        into.push(message.value);
        return Promise.resolve({ messages: [] });
      },
    });
  }

  /** An input and an output topic, and a transactional producer of its own. */
  async function transactionalSetup(name: string) {
    const input = harness.uniqueTopic(`${name}-in`);
    const output = harness.uniqueTopic(`${name}-out`);
    await harness.createTopic(input, { record: "baton.Request" });
    await harness.createTopic(output, { record: "baton.Request" });
    const { kafka, codec, tracing } = harness.backbone;
    const transactional = await BatonProducer.connect({
      kafka,
      codec,
      tracer: tracing.tracer,
      transactionalId: `test-${name}-${randomUUID()}`,
    });
    return { input, output, transactional };
  }

  /** The keys of a topic's committed messages, read until one with `lastKey` has come. */
  async function keysUntil(topic: string, lastKey: string): Promise<Array<string | null>> {
    const { kafka, codec } = harness.backbone;
    const seen = await readTopic({
      kafka,
      codec,
      topic,
      timeoutMs: 20_000,
      until: (messages) => messages.some((message) => message.key === lastKey),
    });
    return seen.map((message) => message.key);
  }

  it("an idempotent producer's messages reach a consumer group in order, and committed offsets survive a restart", async () => {
    const topic = harness.uniqueTopic("order");
    await harness.createTopic(topic, { record: "baton.Request" });
    const ids = Array.from({ length: 5 }, (_, index) => `order-${index}-${randomUUID()}`);
    await producer.send(ids.map((id) => ({ topic, key: id, value: sampleRequest(id) })));

    const groupId = `test-group-${randomUUID()}`;
    const first: Request[] = [];
    const runner = collectingRunner(topic, groupId, first);
    await runner.start();
    await eventually(() => (first.length >= 5 ? true : undefined));
    await runner.stop();
    expect(first.map((request) => request.requestId)).toEqual(ids);
    expect((await harness.admin.groupOffsets(groupId, topic)).get(0)).toBe("5");

    const later = [`later-${randomUUID()}`, `later-${randomUUID()}`];
    await producer.send(later.map((id) => ({ topic, key: id, value: sampleRequest(id) })));
    const second: Request[] = [];
    const restarted = collectingRunner(topic, groupId, second);
    await restarted.start();
    await eventually(() => (second.length >= 2 ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await restarted.stop();
    expect(second.map((request) => request.requestId)).toEqual(later);
  });

  it("a committed transaction shows its output and consumed offset together; an aborted one shows neither", async () => {
    const { input, output, transactional } = await transactionalSetup("tx");
    const groupId = `test-tx-group-${randomUUID()}`;
    try {
      await transactional.transaction(async (transaction) => {
        await transaction.send([{ topic: output, key: "committed", value: sampleRequest("committed") }]);
        await transaction.commitOffsets({
          consumerGroupId: groupId,
          offsets: [{ topic: input, partition: 0, offset: "1" }],
        });
      });
      await expect(
        transactional.transaction(async (transaction) => {
          await transaction.send([{ topic: output, key: "aborted", value: sampleRequest("aborted") }]);
          await transaction.commitOffsets({
            consumerGroupId: groupId,
            offsets: [{ topic: input, partition: 0, offset: "2" }],
          });
          throw new Error("logic failed after sending");
        }),
      ).rejects.toThrow("logic failed after sending");
      await transactional.transaction(async (transaction) => {
        await transaction.send([{ topic: output, key: "after", value: sampleRequest("after") }]);
      });
    } finally {
      await transactional.disconnect();
    }

    expect(await keysUntil(output, "after")).toEqual(["committed", "after"]);
    // Offsets sent in a transaction become readable once the broker has written the commit markers.
    const committedOffset = await eventually(async () => {
      const offset = (await harness.admin.groupOffsets(groupId, input)).get(0);
      return offset === "-1" ? undefined : offset;
    });
    expect(committedOffset).toBe("1");
  });

  it("back-to-back transactions on one producer reuse their coordinators and all commit; a failed one looks them up again", async () => {
    const { input, output, transactional } = await transactionalSetup("tx-loop");
    const groupId = `test-tx-loop-group-${randomUUID()}`;
    const oneTransaction = (index: number, fail = false) =>
      transactional.transaction(async (transaction) => {
        await transaction.send([{ topic: output, key: `loop-${index}`, value: sampleRequest(`loop-${index}`) }]);
        await transaction.commitOffsets({
          consumerGroupId: groupId,
          offsets: [{ topic: input, partition: 0, offset: String(index + 1) }],
        });
        if (fail) throw new Error("logic failed");
      });
    try {
      await oneTransaction(0);
      const afterFirst = coordinatorLookups();
      // Each starts while the broker may still write the previous one's markers (CONCURRENT_TRANSACTIONS, retried).
      for (let index = 1; index < 10; index += 1) await oneTransaction(index);
      expect(coordinatorLookups()).toBe(afterFirst);
      await expect(oneTransaction(10, true)).rejects.toThrow("logic failed");
      const afterFailure = coordinatorLookups();
      await oneTransaction(11);
      expect(coordinatorLookups()).toBeGreaterThan(afterFailure);
    } finally {
      await transactional.disconnect();
    }
    expect(await keysUntil(output, "loop-11")).toEqual([
      ...Array.from({ length: 10 }, (_, index) => `loop-${index}`),
      "loop-11",
    ]);
    const committedOffset = await eventually(async () => {
      const offset = (await harness.admin.groupOffsets(groupId, input)).get(0);
      return offset === "12" ? offset : undefined;
    });
    expect(committedOffset).toBe("12");
  });

  it("admin describes a live consumer group and resets its offsets so the group reads again", async () => {
    const topic = harness.uniqueTopic("reset");
    await harness.createTopic(topic, { record: "baton.Request", partitions: 2 });
    const ids = [`a-${randomUUID()}`, `b-${randomUUID()}`, `c-${randomUUID()}`];
    await producer.send(ids.map((id) => ({ topic, key: id, value: sampleRequest(id) })));

    const groupId = `test-reset-${randomUUID()}`;
    const seen: Request[] = [];
    const runner = collectingRunner(topic, groupId, seen);
    await runner.start();
    await eventually(() => (new Set(seen.map((request) => request.requestId)).size >= 3 ? true : undefined));
    const committedSum = async (): Promise<number> =>
      [...(await harness.admin.groupOffsets(groupId, topic)).values()].reduce(
        (sum, offset) => sum + Math.max(0, Number(offset)),
        0,
      );
    // Handled is not yet committed: the runner commits after each chunk.
    expect(await eventually(async () => ((await committedSum()) === 3 ? 3 : undefined))).toBe(3);
    const live = await harness.admin.describeGroup(groupId);
    expect(live.state).toBe("Stable");
    expect(live.members).toHaveLength(1);
    await runner.stop();
    expect(await committedSum()).toBe(3);
    await harness.admin.resetGroupOffsets(groupId, topic, "earliest");
    const reset = await harness.admin.groupOffsets(groupId, topic);
    expect([...reset.values()].every((offset) => offset === "0")).toBe(true);

    const again: Request[] = [];
    const rerun = collectingRunner(topic, groupId, again);
    await rerun.start();
    await eventually(() => (again.length >= 3 ? true : undefined));
    await rerun.stop();
    expect(again.map((request) => request.requestId).sort()).toEqual([...ids].sort());
  });
});
