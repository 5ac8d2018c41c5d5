import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { StageRunner } from "../../shared/kafka/stage-runner.ts";
import { readTopic } from "../../shared/kafka/topic-reader.ts";
import { deadLetterHeaders } from "../../shared/kafka/headers.ts";
import { BatonError } from "../../shared/errors.ts";
import { deadLetterTopicName } from "../../shared/topics.ts";
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

    const { kafka, codec, tracing, logger } = harness.backbone;
    const groupId = `test-runner-${randomUUID()}`;
    const runner = new StageRunner<Request>({
      stage: "echo",
      groupId,
      topics: [input],
      kafka,
      codec,
      producer,
      tracer: tracing.tracer,
      logger,
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
});
