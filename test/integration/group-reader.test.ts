import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { BatonError } from "../../shared/errors.ts";
import { GroupReader, type RawRecord } from "../../shared/kafka/group-reader.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { eventually, openHarness, type Harness } from "./harness.ts";

// GroupReader against the real broker: a consumer group over a topic that is not Baton's (plain bytes, any key).
describe("reading a foreign topic in a consumer group", () => {
  let harness: Harness;
  let producer: BatonProducer;

  beforeAll(async () => {
    harness = await openHarness("test-group-reader");
    const { kafka, codec, tracing } = harness.backbone;
    producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
  });

  afterAll(async () => {
    await producer.disconnect();
    await harness.close();
  });

  const write = (topic: string, values: string[]): Promise<void> =>
    producer.sendRaw(values.map((value) => ({ topic, key: value, value: Buffer.from(value) })));

  const reader = (topic: string, groupId: string, handle: (record: RawRecord) => Promise<void>): GroupReader =>
    new GroupReader({
      kafka: harness.backbone.kafka,
      groupId,
      topics: [topic],
      logger: harness.backbone.logger,
      handle,
      retryDelayMs: 200,
    });

  it("two members share the records, every record is handled, and what was written before the group began is not read", async () => {
    const topic = harness.uniqueTopic("group-reader");
    await harness.createTopic(topic, { partitions: 4 });
    await write(topic, ["before-1", "before-2"]);
    const groupId = `test-group-reader-${randomUUID()}`;
    const handled: Array<{ member: string; record: RawRecord }> = [];
    const members = ["a", "b"].map((member) =>
      reader(topic, groupId, (record) => {
        handled.push({ member, record });
        return Promise.resolve();
      }),
    );
    try {
      await Promise.all(members.map((member) => member.start()));
      const values = Array.from({ length: 40 }, (_, index) => `after-${index}`);
      await write(topic, values);
      await eventually(() => (handled.length >= values.length ? true : undefined), 30_000);
      // A member that joined late may make the group rebalance: a record read twice is allowed, one missed is not.
      const seen = new Set(handled.map(({ record }) => record.value?.toString()));
      expect([...seen].sort()).toEqual([...values].sort());
      expect(handled.some(({ record }) => record.value?.toString().startsWith("before"))).toBe(false);
      expect(handled[0]?.record).toMatchObject({ topic, key: expect.stringMatching(/^after-/) as unknown });
    } finally {
      await Promise.all(members.map((member) => member.stop()));
    }
  });

  it("a record whose handling throws is handled again before the ones after it, and offsets follow only success", async () => {
    const topic = harness.uniqueTopic("group-reader-retry");
    await harness.createTopic(topic, { partitions: 1 });
    const groupId = `test-group-reader-${randomUUID()}`;
    const order: string[] = [];
    let failures = 0;
    const first = reader(topic, groupId, (record) => {
      const value = record.value?.toString() ?? "";
      order.push(value);
      if (value === "two" && failures < 2) {
        failures += 1;
        return Promise.reject(new BatonError("KAFKA_UNAVAILABLE", "not yet"));
      }
      return Promise.resolve();
    });
    await first.start();
    try {
      await write(topic, ["one", "two", "three"]);
      await eventually(() => (order.includes("three") ? true : undefined), 30_000);
      expect(order).toEqual(["one", "two", "two", "two", "three"]);
    } finally {
      await first.stop();
    }
    // A new member of the group goes on after the last record handled: nothing is read again.
    const again: string[] = [];
    const second = reader(topic, groupId, (record) => {
      again.push(record.value?.toString() ?? "");
      return Promise.resolve();
    });
    await second.start();
    try {
      await write(topic, ["four"]);
      await eventually(() => (again.includes("four") ? true : undefined), 30_000);
      expect(again).toEqual(["four"]);
    } finally {
      await second.stop();
    }
  });

  it("refuses to start on a topic that does not exist, naming it", async () => {
    const topic = harness.uniqueTopic("absent");
    const error = await reader(topic, `test-group-reader-${randomUUID()}`, () => Promise.resolve())
      .start()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BatonError);
    expect((error as BatonError).code).toBe("CONFIG_INVALID");
    expect((error as BatonError).message).toContain(topic);
  });
});
