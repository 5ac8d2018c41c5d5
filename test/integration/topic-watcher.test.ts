import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { TopicWatcher } from "../../shared/kafka/topic-watcher.ts";
import type { ReceivedMessage } from "../../shared/kafka/received-message.ts";
import { AvroCodec, type Decoded } from "../../shared/schemas/codec.ts";
import type { Request } from "../../shared/schemas/records.ts";
import { eventually, openHarness, sampleRequest, type Harness } from "./harness.ts";

/** The backbone's codec, counting the values it decodes (a real codec against the real registry). */
class CountingCodec extends AvroCodec {
  decoded = 0;
  override decode<T>(bytes: Buffer | null): Promise<Decoded<T>> {
    this.decoded += 1;
    return super.decode<T>(bytes);
  }
}

// A watcher that keeps nothing (the gateway's feed of baton.events) decodes only what a listener asked for.
describe("a topic watcher that keeps nothing", () => {
  let harness: Harness;
  let producer: BatonProducer;

  beforeAll(async () => {
    harness = await openHarness("test-topic-watcher");
    const { kafka, codec, tracing } = harness.backbone;
    producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
  });

  afterAll(async () => {
    await producer.disconnect();
    await harness.close();
  });

  it("tells a keyed listener only its key, an unkeyed one every key, and decodes nothing nobody listens for", async () => {
    const topic = harness.uniqueTopic("topic-watcher");
    // One partition: the watcher reads in the order written, so a marker seen means all before it was read.
    await harness.createTopic(topic, { partitions: 1, record: "baton.Request" });
    const codec = new CountingCodec(harness.backbone.registry);
    const watcher = new TopicWatcher<Request | null>({ kafka: harness.backbone.kafka, codec, topic, remember: false });
    const send = (keys: string[]) => producer.send(keys.map((key) => ({ topic, key, value: sampleRequest(key) })));
    const markers: string[] = [];
    const marker = (key: string) => watcher.listen((message) => markers.push(message.key ?? ""), key);
    const read = (key: string) => eventually(() => (markers.includes(key) ? true : undefined), 30_000);
    await watcher.start();
    try {
      // Only a marker is listened for: a-1, b-1 and b-2 are read, not decoded.
      const stop0 = marker("marker-0");
      await send(["a-1", "b-1", "b-2", "marker-0"]);
      await read("marker-0");
      stop0();
      const forA: Array<ReceivedMessage<Request | null>> = [];
      const stopA = watcher.listen((message) => forA.push(message), "a-1");
      const stop1 = marker("marker-1");
      await send(["a-1", "b-3", "marker-1"]);
      await read("marker-1");
      stop1();
      const everything: string[] = [];
      const stopAll = watcher.listen((message) => everything.push(message.key ?? ""));
      await send(["b-4", "a-1", "marker-2"]);
      await eventually(() => (everything.includes("marker-2") ? true : undefined), 30_000);
      stopA();
      stopAll();

      expect(forA.map((message) => message.key)).toEqual(["a-1", "a-1"]);
      expect(forA[0]?.value?.requestId).toBe("a-1");
      expect(everything).toEqual(["b-4", "a-1", "marker-2"]);
      // Decoded: marker-0; a-1 and marker-1; b-4, a-1 and marker-2. Never b-1, b-2, b-3 or the first a-1.
      expect(codec.decoded).toBe(6);
    } finally {
      await watcher.stop();
    }
  });
});
