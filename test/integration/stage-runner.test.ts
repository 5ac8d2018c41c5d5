import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { StageRunner, type StageRunnerOptions } from "../../shared/kafka/stage-runner.ts";
import { readTopic } from "../../shared/kafka/topic-reader.ts";
import { deadLetterHeaders } from "../../shared/kafka/headers.ts";
import { BatonError } from "../../shared/errors.ts";
import { deadLetterTopicName, retryTopicName } from "../../shared/topics.ts";
import { retryHeaders } from "../../shared/kafka/retry-routing.ts";
import type { Request } from "../../shared/schemas/records.ts";
import { eventually, openHarness, sampleRequest, type Harness } from "./harness.ts";

describe("stage runner", () => {
  let harness: Harness;
  let producer: BatonProducer;

  beforeAll(async () => {
    harness = await openHarness("test-stage-runner");
    const { kafka, codec, tracing } = harness.backbone;
    producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
  });

  afterAll(async () => {
    await producer.disconnect();
    await harness.close();
  });

  /** A runner on the suite's backbone and producer; each test gives its stage, topics, handler and settings. */
  function testRunner(
    options: Omit<StageRunnerOptions<Request>, "kafka" | "codec" | "producer" | "tracer" | "logger">,
  ): StageRunner<Request> {
    const { kafka, codec, tracing, logger } = harness.backbone;
    return new StageRunner<Request>({ ...options, kafka, codec, producer, tracer: tracing.tracer, logger });
  }

  it("undecodable bytes and a terminal failure go to the dead letter with raw bytes and reason, and the partition keeps flowing", async () => {
    const input = harness.uniqueTopic("runner-in");
    const output = harness.uniqueTopic("runner-out");
    await harness.createTopic(input, { record: "baton.Request" });
    await harness.createTopic(deadLetterTopicName(input));
    await harness.createTopic(output, { record: "baton.Request" });

    const garbage = Buffer.from("this is not avro");
    await producer.sendRaw([{ topic: input, key: "garbage", value: garbage }]);
    await producer.send([
      { topic: input, key: "poison", value: sampleRequest("poison", "please fail") },
      { topic: input, key: "good", value: sampleRequest("good") },
    ]);

    const { kafka, codec } = harness.backbone;
    const groupId = `test-runner-${randomUUID()}`;
    const runner = testRunner({
      stage: "echo",
      groupId,
      topics: [input],
      handler: async (message) => {
        if (message.value.input === "please fail") throw new BatonError("INVALID_INPUT", "unknown tenant nobody");
        return Promise.resolve({ messages: [{ topic: output, key: message.value.requestId, value: message.value }] });
      },
    });
    await runner.start();
    try {
      const echoed = await readTopic({ kafka, codec, topic: output, timeoutMs: 30_000, until: (m) => m.length >= 1 });
      expect(echoed.map((message) => message.key)).toEqual(["good"]);

      const dead = await readTopic({
        kafka,
        codec,
        topic: deadLetterTopicName(input),
        timeoutMs: 30_000,
        until: (m) => m.length >= 2,
      });
      expect(dead).toHaveLength(2);
      const [first, second] = dead;
      expect(first?.key).toBe("garbage");
      expect(first?.raw?.equals(garbage)).toBe(true);
      expect(first?.headers[deadLetterHeaders.code]).toBe("DECODE_FAILED");
      expect(first?.headers[deadLetterHeaders.reason]).toMatch(/wire format/);
      expect(first?.headers[deadLetterHeaders.originTopic]).toBe(input);
      expect(first?.headers[deadLetterHeaders.originOffset]).toBe("0");
      expect(second?.key).toBe("poison");
      expect(second?.headers[deadLetterHeaders.code]).toBe("INVALID_INPUT");
      expect(second?.headers[deadLetterHeaders.reason]).toBe("unknown tenant nobody");
      expect((second?.value as Request).input).toBe("please fail");

      // Each input is handled once: the group commits past all three and nothing is produced twice.
      const committed = await eventually(async () => {
        const offset = (await harness.admin.groupOffsets(groupId, input)).get(0);
        return offset === "3" ? offset : undefined;
      });
      expect(committed).toBe("3");
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect((await harness.admin.topicEndOffsets(output)).get(0)).toBe("1");
      expect((await harness.admin.topicEndOffsets(deadLetterTopicName(input))).get(0)).toBe("2");
    } finally {
      await runner.stop();
    }
  });

  it("a retriable failure is retried through the retry topics without holding up the partition, then dead-lettered when attempts run out", async () => {
    const input = harness.uniqueTopic("retry-in");
    const output = harness.uniqueTopic("retry-out");
    await harness.createTopic(input, { record: "baton.Request" });
    for (const delay of [500, 1_000])
      await harness.createTopic(retryTopicName(input, delay), { record: "baton.Request" });
    await harness.createTopic(deadLetterTopicName(input));
    await harness.createTopic(output, { record: "baton.Request" });

    const seen: Array<{ id: string; attempt: number; at: number }> = [];
    const { kafka, codec } = harness.backbone;
    const runner = testRunner({
      stage: "flaky",
      groupId: `test-retry-${randomUUID()}`,
      topics: [input],
      retryDelaysMs: new Map([[input, [500, 1_000]]]),
      handler: (message) => {
        seen.push({ id: message.value.requestId, attempt: message.attempt, at: Date.now() });
        if (message.value.requestId === "flaky" && message.attempt < 3) {
          throw new BatonError("TIMEOUT", `tool timed out on attempt ${message.attempt}`);
        }
        if (message.value.requestId === "hopeless") throw new BatonError("TIMEOUT", "tool never answers");
        return Promise.resolve({ messages: [{ topic: output, key: message.value.requestId, value: message.value }] });
      },
    });
    await producer.send([
      { topic: input, key: "flaky", value: sampleRequest("flaky") },
      { topic: input, key: "hopeless", value: sampleRequest("hopeless") },
      { topic: input, key: "good", value: sampleRequest("good") },
    ]);
    await runner.start();
    try {
      const done = await readTopic({ kafka, codec, topic: output, timeoutMs: 30_000, until: (m) => m.length >= 2 });
      expect(done.map((message) => message.key)).toEqual(["good", "flaky"]);

      const flaky = seen.filter((entry) => entry.id === "flaky");
      expect(flaky.map((entry) => entry.attempt)).toEqual([1, 2, 3]);
      expect((flaky[1]?.at ?? 0) - (flaky[0]?.at ?? 0)).toBeGreaterThanOrEqual(450);
      expect((flaky[2]?.at ?? 0) - (flaky[1]?.at ?? 0)).toBeGreaterThanOrEqual(950);
      const good = seen.find((entry) => entry.id === "good");
      expect(good?.at ?? Infinity).toBeLessThan(flaky[1]?.at ?? 0);

      const retried = await readTopic({
        kafka,
        codec,
        topic: retryTopicName(input, 500),
        timeoutMs: 10_000,
        until: (m) => m.length >= 2,
      });
      const firstRetry = retried.find((message) => message.key === "flaky");
      expect(firstRetry?.headers[retryHeaders.attempt]).toBe("2");
      expect(firstRetry?.headers[retryHeaders.lastError]).toBe("TIMEOUT: tool timed out on attempt 1");
      expect(firstRetry?.headers[deadLetterHeaders.originTopic]).toBe(input);
      expect(firstRetry?.headers[deadLetterHeaders.originOffset]).toBe("0");
      expect(Number(firstRetry?.headers[retryHeaders.retryAt])).toBeGreaterThan(0);

      const dead = await readTopic({
        kafka,
        codec,
        topic: deadLetterTopicName(input),
        timeoutMs: 30_000,
        until: (m) => m.length >= 1,
      });
      expect(dead.map((message) => message.key)).toEqual(["hopeless"]);
      expect(dead[0]?.headers[deadLetterHeaders.reason]).toBe("gave up after 3 attempts: tool never answers");
      expect(dead[0]?.headers[retryHeaders.attempt]).toBe("3");
      expect(dead[0]?.headers[deadLetterHeaders.originOffset]).toBe("1");
      expect(seen.filter((entry) => entry.id === "hopeless").map((entry) => entry.attempt)).toEqual([1, 2, 3]);
    } finally {
      await runner.stop();
    }
  });

  it("a chunk whose handler finds Kafka unavailable is given up (the stage drops its pending state) and redelivered", async () => {
    const input = harness.uniqueTopic("unavailable-in");
    const output = harness.uniqueTopic("unavailable-out");
    await harness.createTopic(input, { record: "baton.Request" });
    await harness.createTopic(output, { record: "baton.Request" });
    await producer.send([
      { topic: input, key: "first", value: sampleRequest("first") },
      { topic: input, key: "second", value: sampleRequest("second") },
    ]);
    const aborted: number[] = [];
    let failures = 0;
    const { kafka, codec } = harness.backbone;
    const runner = testRunner({
      stage: "unavailable",
      groupId: `test-unavailable-${randomUUID()}`,
      topics: [input],
      onChunkAborted: (_topic, partition) => aborted.push(partition),
      handler: (message) => {
        if (message.value.requestId === "second" && failures === 0) {
          failures += 1;
          throw new BatonError("KAFKA_UNAVAILABLE", "state could not be written");
        }
        return Promise.resolve({ messages: [{ topic: output, key: message.value.requestId, value: message.value }] });
      },
    });
    await runner.start();
    try {
      const relayed = await readTopic({ kafka, codec, topic: output, timeoutMs: 30_000, until: (m) => m.length >= 2 });
      expect(relayed.map((message) => message.key)).toEqual(["first", "second"]);
      expect(aborted).toEqual([0]);
      expect(failures).toBe(1);
    } finally {
      await runner.stop();
    }
  });

  it("a handler that runs for three times the session timeout causes no rebalance and runs once", async () => {
    const input = harness.uniqueTopic("long-in");
    await harness.createTopic(input, { record: "baton.Request" });
    await producer.send([{ topic: input, key: "long", value: sampleRequest("long") }]);
    const groupId = `test-long-${randomUUID()}`;
    let joins = 0;
    const calls: number[] = [];
    const runner = testRunner({
      stage: "long",
      groupId,
      topics: [input],
      sessionTimeoutMs: 6_000,
      onAssigned: () => {
        joins += 1;
        return Promise.resolve();
      },
      handler: async () => {
        calls.push(Date.now());
        await new Promise((resolve) => setTimeout(resolve, 18_000));
        return { messages: [] };
      },
    });
    await runner.start();
    try {
      const committed = await eventually(async () => {
        const offset = (await harness.admin.groupOffsets(groupId, input)).get(0);
        return offset === "1" ? offset : undefined;
      }, 40_000);
      expect(committed).toBe("1");
      expect(calls).toHaveLength(1);
      expect(joins).toBe(1);
      expect((await harness.admin.describeGroup(groupId)).state).toBe("Stable");
    } finally {
      await runner.stop();
    }
  }, 60_000);

  it("with an in-flight window, a slow message holds back neither the messages after it nor their output, and the commit waits for it", async () => {
    const input = harness.uniqueTopic("window-in");
    const output = harness.uniqueTopic("window-out");
    await harness.createTopic(input, { record: "baton.Request" });
    await harness.createTopic(output, { record: "baton.Request" });
    const ids = ["slow", "fast-1", "fast-2", "fast-3", "fast-4"];
    await producer.send(ids.map((id) => ({ topic: input, key: id, value: sampleRequest(id) })));
    const groupId = `test-window-${randomUUID()}`;
    let releaseSlow: () => void = () => undefined;
    const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
    const calls: string[] = [];
    const { kafka, codec } = harness.backbone;
    const runner = testRunner({
      stage: "window",
      groupId,
      topics: [input],
      maxInFlightPerPartition: 10,
      handler: async (message) => {
        calls.push(message.value.requestId);
        if (message.value.requestId === "slow") await slowGate;
        return { messages: [{ topic: output, key: message.value.requestId, value: message.value }] };
      },
    });
    await runner.start();
    try {
      const fast = await readTopic({ kafka, codec, topic: output, timeoutMs: 30_000, until: (m) => m.length >= 4 });
      expect(fast.map((message) => message.key).sort()).toEqual(["fast-1", "fast-2", "fast-3", "fast-4"]);
      // Their output is out, but the commit may not pass the slow message still running at offset 0.
      expect((await harness.admin.groupOffsets(groupId, input)).get(0) ?? "none").toMatch(/^(none|-1|0)$/);
      releaseSlow();
      const committed = await eventually(async () => {
        const offset = (await harness.admin.groupOffsets(groupId, input)).get(0);
        return offset === "5" ? offset : undefined;
      });
      expect(committed).toBe("5");
      const all = await readTopic({ kafka, codec, topic: output, timeoutMs: 30_000, until: (m) => m.length >= 5 });
      expect(all.map((message) => message.key).at(-1)).toBe("slow");
      expect(calls.sort()).toEqual([...ids].sort());
    } finally {
      releaseSlow();
      await runner.stop();
    }
  }, 60_000);

  it("a partition whose in-flight window is full is paused until its messages finish, and each runs once", async () => {
    const input = harness.uniqueTopic("bound-in");
    await harness.createTopic(input, { record: "baton.Request" });
    const ids = Array.from({ length: 7 }, (_, index) => `bounded-${index}`);
    await producer.send(ids.map((id) => ({ topic: input, key: id, value: sampleRequest(id) })));
    const groupId = `test-bound-${randomUUID()}`;
    const gates: Array<() => void> = [];
    const calls: string[] = [];
    let running = 0;
    let mostRunning = 0;
    const runner = testRunner({
      stage: "bounded",
      groupId,
      topics: [input],
      maxInFlightPerPartition: 3,
      handler: async (message) => {
        calls.push(message.value.requestId);
        running += 1;
        mostRunning = Math.max(mostRunning, running);
        await new Promise<void>((resolve) => gates.push(resolve));
        running -= 1;
        return { messages: [] };
      },
    });
    await runner.start();
    try {
      await eventually(() => (calls.length >= 3 ? true : undefined));
      // Nothing more starts while three are running, however long they take.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(calls).toHaveLength(3);
      const release = setInterval(() => gates.shift()?.(), 100);
      try {
        const committed = await eventually(async () => {
          const offset = (await harness.admin.groupOffsets(groupId, input)).get(0);
          return offset === "7" ? offset : undefined;
        }, 30_000);
        expect(committed).toBe("7");
      } finally {
        clearInterval(release);
      }
      expect(mostRunning).toBe(3);
      expect([...calls].sort()).toEqual([...ids].sort());
    } finally {
      for (const gate of gates) gate();
      await runner.stop();
    }
  }, 60_000);
});
