import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { KeyedTable } from "../../shared/kafka/keyed-table.ts";
import type { Request } from "../../shared/schemas/records.ts";
import { eventually, killBroker, openHarness, sampleRequest, startBroker, type Harness } from "./harness.ts";

describe("keyed table across a broker restart", () => {
  let harness: Harness;
  let producer: BatonProducer;

  beforeAll(async () => {
    harness = await openHarness("test-keyed-table-restart");
    const { kafka, codec, tracing } = harness.backbone;
    producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
  });

  afterAll(async () => {
    await producer.disconnect();
    await harness.close();
  });

  const keysOf = (partition: number): string[] => [0, 1, 2].map((index) => `run-p${partition}-${index}`);
  const missing = (table: KeyedTable<Request>, partitions: readonly number[]): string[] =>
    partitions.flatMap(keysOf).filter((key) => table.get(key) === undefined);

  it("loads partitions taken on after its consumer crashed while the broker was down, and one asked for during the outage once the broker is back", async () => {
    const topic = harness.uniqueTopic("table-restart");
    await harness.createTopic(topic, {
      partitions: 4,
      record: "baton.Request",
      config: { "cleanup.policy": "compact" },
    });
    await producer.send(
      [0, 1, 2, 3].flatMap((partition) =>
        keysOf(partition).map((key) => ({ topic, key, partition, value: sampleRequest(key) })),
      ),
    );
    const { kafka, codec, logger } = harness.backbone;
    const table = new KeyedTable<Request>({ kafka, codec, logger, topic, partitioned: true });
    const lateOwner = new KeyedTable<Request>({ kafka, codec, logger, topic, partitioned: true });
    await table.start();
    await lateOwner.start();
    try {
      await table.own([0, 1]);
      expect(missing(table, [0, 1])).toEqual([]);

      await killBroker();
      // Long enough for the table consumers to give up their retries and crash.
      await sleep(12_000);
      const duringOutage = lateOwner.own([1, 3]);
      const outcome = duringOutage.then(
        () => "loaded",
        (error: unknown) => `failed: ${(error as Error).message}`,
      );
      await startBroker();

      // As the executor does at each rebalance: partitions kept, then all it owns now.
      await table.own([0, 1]);
      await table.own([0, 1, 2]);
      expect(missing(table, [0, 1, 2])).toEqual([]);
      await table.own([2, 3]);
      expect(missing(table, [2, 3])).toEqual([]);
      expect(missing(table, [0, 1])).toEqual(keysOf(0).concat(keysOf(1)));

      expect(await outcome).toBe("loaded");
      expect(missing(lateOwner, [1, 3])).toEqual([]);

      await producer.send([{ topic, key: "after-restart", partition: 3, value: sampleRequest("after-restart") }]);
      await eventually(() => (table.get("after-restart") !== undefined ? true : undefined), 30_000);
      await eventually(() => (lateOwner.get("after-restart") !== undefined ? true : undefined), 30_000);
    } finally {
      await table.stop();
      await lateOwner.stop();
    }
  }, 240_000);
});
