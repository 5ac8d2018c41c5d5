import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { readToEnd } from "../../shared/kafka/topic-reader.ts";
import { openHarness, sampleRequest, type Harness } from "./harness.ts";

// readToEnd against the real broker: it reads what a topic held when it began, all of it, and stops.
describe("reading topics to the end they had at the start", () => {
  let harness: Harness;
  let producer: BatonProducer;

  beforeAll(async () => {
    harness = await openHarness("test-read-to-end");
    const { kafka, codec, tracing } = harness.backbone;
    producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
  });

  afterAll(async () => {
    await producer.disconnect();
    await harness.close();
  });

  it("reads all of 2,000 messages on 6 partitions and returns promptly, leaving out what is written meanwhile", async () => {
    const topic = harness.uniqueTopic("many");
    await harness.createTopic(topic, { partitions: 6, record: "baton.Request" });
    const ids = Array.from({ length: 2_000 }, (_, index) => `many-${index}-${randomUUID()}`);
    for (let start = 0; start < ids.length; start += 500) {
      await producer.send(ids.slice(start, start + 500).map((id) => ({ topic, key: id, value: sampleRequest(id) })));
    }
    const { kafka, codec } = harness.backbone;
    const started = Date.now();
    const reading = readToEnd({ kafka, codec, topics: [topic] });
    // Written while the read runs: after the ends it took, so never part of it.
    const late = `late-${randomUUID()}`;
    setTimeout(() => void producer.send([{ topic, key: late, value: sampleRequest(late) }]), 50);
    const { messages, unfinished, missing } = await reading;
    const tookMs = Date.now() - started;
    expect(unfinished).toEqual([]);
    expect(missing).toEqual([]);
    expect(messages.map((message) => message.key).sort()).toEqual([...ids].sort());
    expect(messages.every((message) => message.decodeError === undefined)).toBe(true);
    expect(tookMs).toBeLessThan(15_000);
  });

  it("returns at once for empty partitions and names topics the cluster does not have", async () => {
    const topic = harness.uniqueTopic("empty");
    await harness.createTopic(topic, { partitions: 3 });
    const { kafka, codec } = harness.backbone;
    const started = Date.now();
    const result = await readToEnd({ kafka, codec, topics: [topic, `${topic}.absent`] });
    expect(result).toEqual({ messages: [], unfinished: [], missing: [`${topic}.absent`] });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("reads only the partitions asked for", async () => {
    const topic = harness.uniqueTopic("some");
    await harness.createTopic(topic, { partitions: 4, record: "baton.Request" });
    await producer.send(
      [0, 1, 2, 3].map((partition) => ({
        topic,
        key: `p${partition}`,
        value: sampleRequest(`p${partition}`),
        partition,
      })),
    );
    const { kafka, codec } = harness.backbone;
    const { messages } = await readToEnd({ kafka, codec, topics: [{ topic, partitions: [1, 3] }] });
    expect(messages.map((message) => message.key).sort()).toEqual(["p1", "p3"]);
  });

  it("reads committed transactions to their end and is not held up by a transaction left open", async () => {
    const topic = harness.uniqueTopic("open-txn");
    await harness.createTopic(topic, { partitions: 1, record: "baton.Request" });
    const { kafka, codec, tracing } = harness.backbone;
    const transactional = await BatonProducer.connect({
      kafka,
      codec,
      tracer: tracing.tracer,
      transactionalId: `test-read-to-end-${randomUUID()}`,
    });
    try {
      await transactional.transaction((transaction) =>
        transaction.send([{ topic, key: "committed", value: sampleRequest("committed") }]),
      );
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      let sent: () => void = () => undefined;
      const written = new Promise<void>((resolve) => (sent = resolve));
      const open = transactional.transaction(async (transaction) => {
        await transaction.send([{ topic, key: "open", value: sampleRequest("open") }]);
        sent();
        await held;
      });
      await written;
      const started = Date.now();
      const { messages, unfinished } = await readToEnd({ kafka, codec, topics: [topic], timeoutMs: 20_000 });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(unfinished).toEqual([]);
      expect(messages.map((message) => message.key)).toEqual(["committed"]);
      release();
      await open;
      const after = await readToEnd({ kafka, codec, topics: [topic] });
      expect(after.messages.map((message) => message.key)).toEqual(["committed", "open"]);
    } finally {
      await transactional.disconnect();
    }
  });
});
