import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AvroCodec, type Decoded } from "../../shared/schemas/codec.ts";
import { RegistryClient } from "../../shared/schemas/registry.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { KeyedTable } from "../../shared/kafka/keyed-table.ts";
import type { Request } from "../../shared/schemas/records.ts";
import { eventually, openHarness, sampleRequest, type Harness } from "./harness.ts";

/** A key and the partition it is written to (the test picks it, whatever the key's hash). */
interface Placed {
  partition: number;
  key: string;
  input?: string;
}

describe("keyed table", () => {
  let harness: Harness;
  let producer: BatonProducer;

  beforeAll(async () => {
    harness = await openHarness("test-keyed-table");
    const { kafka, codec, tracing } = harness.backbone;
    producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
  });

  afterAll(async () => {
    await producer.disconnect();
    await harness.close();
  });

  async function compactedTopic(label: string, partitions = 1): Promise<string> {
    const topic = harness.uniqueTopic(label);
    await harness.createTopic(topic, {
      partitions,
      record: "baton.Request",
      config: { "cleanup.policy": "compact" },
    });
    return topic;
  }

  async function encoded(topic: string, records: readonly Placed[]) {
    return Promise.all(
      records.map(async ({ partition, key, input }) => ({
        partition,
        key,
        value: await harness.backbone.codec.encode(topic, sampleRequest(key, input ?? `value of ${key}`)),
      })),
    );
  }

  /**
   * Waits until read-committed readers see records just committed: the broker writes a transaction's markers after
   * the commit returns, and until then the topic's read-committed end (what a table reads up to) stays before them.
   */
  async function visible(topic: string, sent: ReadonlyArray<{ partition: number; baseOffset?: string }>) {
    await eventually(
      async () => {
        const ends = await harness.admin.topicEndOffsets(topic);
        const seen = sent.every(
          ({ partition, baseOffset }) => BigInt(ends.get(partition) ?? 0) > BigInt(baseOffset ?? 0),
        );
        return seen ? true : undefined;
      },
      10_000,
      20,
    );
  }

  /** Writes each record to the partition it names, in one transaction unless `open` leaves it open. */
  async function writeToPartitions(topic: string, records: readonly Placed[], options: { open?: boolean } = {}) {
    const producer = harness.backbone.kafka.producer({
      transactionalId: `test-keyed-table-${randomUUID()}`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const transaction = await producer.transaction();
    const sent = await transaction.send({ topic, messages: await encoded(topic, records) });
    if (options.open === true) {
      return {
        commit: async () => {
          await transaction.commit();
          await producer.disconnect();
        },
      };
    }
    await transaction.commit();
    await producer.disconnect();
    await visible(topic, sent);
    return { commit: () => Promise.resolve() };
  }

  function keysOf(partition: number, count: number): Placed[] {
    return Array.from({ length: count }, (_, index) => ({ partition, key: `run-p${partition}-${index}` }));
  }

  function partitionedTable(
    topic: string,
    onChange?: (key: string, value: Request | undefined, partition: number) => void,
  ) {
    const { kafka, codec, logger } = harness.backbone;
    return new KeyedTable<Request>({ kafka, codec, logger, topic, partitioned: true, onChange });
  }

  it("keeps this process's own write ahead of older values it still reads, until told to forget it", async () => {
    const topic = await compactedTopic("table-overlay");
    const { kafka, codec, logger } = harness.backbone;
    const table = new KeyedTable<Request>({ kafka, codec, logger, topic });
    await table.start();
    try {
      table.set("run-1", sampleRequest("run-1", "newest, written here"), 0);
      // A value written before ours, read only now (the table's consumer lags behind this process's writes).
      await producer.send([{ topic, key: "run-1", value: sampleRequest("run-1", "older, read late") }]);
      await table.catchUp();
      expect(table.get("run-1")?.input).toBe("newest, written here");
      expect([...table.entries()].map(([, value]) => value.input)).toEqual(["newest, written here"]);
      table.forgetWritten();
      expect(table.get("run-1")?.input).toBe("older, read late");
    } finally {
      await table.stop();
    }
  });

  it("forgets keys written longer ago than the retention, except the ones it is told to keep", async () => {
    const topic = await compactedTopic("table-retention");
    await producer.send([
      { topic, key: "finished", value: sampleRequest("finished", "done") },
      { topic, key: "running", value: sampleRequest("running", "still running") },
    ]);
    const { kafka, codec, logger } = harness.backbone;
    const changes: Array<[string, string | undefined]> = [];
    const table = new KeyedTable<Request>({
      kafka,
      codec,
      logger,
      topic,
      onChange: (key, value) => changes.push([key, value?.input]),
    });
    await table.start();
    try {
      await eventually(() => (table.get("running") !== undefined ? true : undefined));
      table.set("fresh", sampleRequest("fresh", "written now"), 0);
      const keepRunning = (value: Request): boolean => value.input === "still running";
      expect(table.evictOlderThan(60_000, keepRunning)).toBe(0);
      expect(table.evictOlderThan(60_000, keepRunning, Date.now() + 120_000)).toBe(2);
      expect(table.get("finished")).toBeUndefined();
      expect(table.get("fresh")).toBeUndefined();
      expect(table.get("running")?.input).toBe("still running");
      expect(changes).toEqual(
        expect.arrayContaining([
          ["finished", "done"],
          ["fresh", "written now"],
          ["finished", undefined],
          ["fresh", undefined],
        ]),
      );
    } finally {
      await table.stop();
    }
  });

  it("waits for a registry that is down instead of skipping the entries it cannot decode yet", async () => {
    const topic = await compactedTopic("table-registry-down");
    await producer.send([{ topic, key: "run-7", value: sampleRequest("run-7", "kept through the outage") }]);
    // The real registry behind a proxy that answers 503 while `down`: an outage for this table's client only.
    let down = true;
    let refused = 0;
    const target = harness.backbone.registry.url;
    const proxy = createServer((request, response) => {
      if (down) {
        refused += 1;
        response.writeHead(503).end("registry down");
        return;
      }
      fetch(`${target}${request.url ?? ""}`, { headers: { accept: request.headers.accept ?? "*/*" } }).then(
        async (answer) => {
          response.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "" });
          response.end(Buffer.from(await answer.arrayBuffer()));
        },
        () => response.writeHead(502).end(),
      );
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const { port } = proxy.address() as AddressInfo;
    const codec = new AvroCodec(new RegistryClient(`http://127.0.0.1:${port}`));
    const { kafka, logger } = harness.backbone;
    const table = new KeyedTable<Request>({ kafka, codec, logger, topic });
    const upAgain = setTimeout(() => (down = false), 2_500);
    try {
      await table.start();
      expect(refused).toBeGreaterThan(0);
      expect(table.get("run-7")?.input).toBe("kept through the outage");
    } finally {
      clearTimeout(upAgain);
      await table.stop();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it("holds only the keys of the partitions it owns, and loads nothing before it owns one", async () => {
    const topic = await compactedTopic("table-owned", 4);
    await writeToPartitions(
      topic,
      [0, 1, 2, 3].flatMap((partition) => keysOf(partition, 5)),
    );
    const table = partitionedTable(topic);
    await table.start();
    try {
      expect(table.size).toBe(0);
      await table.own([0]);
      expect(table.size).toBe(5);
      expect(keysOf(0, 5).every(({ key }) => table.get(key)?.requestId === key)).toBe(true);
      expect([1, 2, 3].flatMap((partition) => keysOf(partition, 5)).some(({ key }) => table.get(key))).toBe(false);
      expect(table.loadStats().get(0)?.entries).toBe(5);
      expect(table.loadStats().has(1)).toBe(false);

      // Followed live: what arrives for a partition not owned is not kept.
      await writeToPartitions(topic, [
        { partition: 0, key: "live-p0" },
        { partition: 2, key: "live-p2" },
      ]);
      await table.catchUp();
      expect(table.get("live-p0")?.requestId).toBe("live-p0");
      expect(table.get("live-p2")).toBeUndefined();
      expect(table.size).toBe(6);
    } finally {
      await table.stop();
    }
  });

  it("loads a partition it takes on, and drops the keys of one it gives up, telling onChange", async () => {
    const topic = await compactedTopic("table-rebalance", 4);
    await writeToPartitions(topic, [...keysOf(0, 3), ...keysOf(1, 3)]);
    const changes: Array<[string, string | undefined, number]> = [];
    const table = partitionedTable(topic, (key, value, partition) => changes.push([key, value?.requestId, partition]));
    const readsOf = (key: string): number => changes.filter(([changed, value]) => changed === key && value).length;
    await table.start();
    try {
      await table.own([0]);
      await table.own([0, 1]);
      expect(table.size).toBe(6);
      expect(keysOf(1, 3).every(({ key }) => table.get(key) !== undefined)).toBe(true);
      // Partition 0 was kept across the call, not read again.
      expect(keysOf(0, 3).map(({ key }) => readsOf(key))).toEqual([1, 1, 1]);

      await table.own([1]);
      expect(table.size).toBe(3);
      expect(keysOf(0, 3).some(({ key }) => table.get(key))).toBe(false);
      expect(changes).toEqual(expect.arrayContaining(keysOf(0, 3).map(({ key }) => [key, undefined, 0])));
      expect(changes).toEqual(expect.arrayContaining(keysOf(1, 3).map(({ key }) => [key, key, 1])));
      expect(changes.filter(([key, value]) => key.includes("-p1-") && value === undefined)).toEqual([]);
      expect(table.loadStats().has(0)).toBe(false);

      // Taken on again, partition 0 is read from its beginning once more.
      await table.own([0, 1]);
      expect(table.size).toBe(6);
      expect(keysOf(0, 3).map(({ key }) => readsOf(key))).toEqual([2, 2, 2]);
    } finally {
      await table.stop();
    }
  });

  it("keeps a value set here for an owned partition ahead of an older one read later, and drops it with the partition", async () => {
    const topic = await compactedTopic("table-partitioned-overlay", 4);
    const table = partitionedTable(topic);
    await table.start();
    try {
      await table.own([2]);
      table.set("run-1", sampleRequest("run-1", "newest, written here"), 2);
      await writeToPartitions(topic, [{ partition: 2, key: "run-1", input: "older, read late" }]);
      await table.catchUp();
      expect(table.get("run-1")?.input).toBe("newest, written here");
      expect([...table.entries()].map(([, value]) => value.input)).toEqual(["newest, written here"]);

      table.set("run-2", sampleRequest("run-2", "for a partition not owned"), 3);
      expect(table.get("run-2")).toBeUndefined();

      await table.own([3]);
      expect(table.get("run-1")).toBeUndefined();
      expect(table.size).toBe(0);
    } finally {
      await table.stop();
    }
  });

  it("holds about a quarter of the keys of a topic written evenly when it owns one partition of four", async () => {
    const topic = await compactedTopic("table-quarter", 4);
    const keys = Array.from({ length: 400 }, (_, index) => `run-${index}`);
    await producer.send(keys.map((key) => ({ topic, key, value: sampleRequest(key) })));
    const table = partitionedTable(topic);
    await table.start();
    try {
      const sizes: number[] = [];
      for (const partition of [0, 1, 2, 3]) {
        await table.own([partition]);
        sizes.push(table.size);
        expect(table.loadStats().get(partition)?.entries).toBe(table.size);
      }
      expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(400);
      for (const size of sizes) {
        expect(size).toBeGreaterThanOrEqual(70);
        expect(size).toBeLessThanOrEqual(130);
      }
    } finally {
      await table.stop();
    }
  });

  it("loads a partition written in transactions to what can be read, without waiting for one still open", async () => {
    const topic = await compactedTopic("table-transactions", 4);
    await writeToPartitions(topic, keysOf(1, 3));
    const open = await writeToPartitions(topic, [{ partition: 1, key: "pending" }], { open: true });
    const table = partitionedTable(topic);
    await table.start();
    try {
      await table.own([1], 15_000);
      expect(table.size).toBe(3);
      expect(table.get("pending")).toBeUndefined();
      await open.commit();
      await eventually(() => table.get("pending"));
      await table.catchUp(15_000);
      expect(table.size).toBe(4);
    } finally {
      await open.commit().catch(() => undefined);
      await table.stop();
    }
  });

  it("reads a partition taken on again while it is written to up to its end each time", async () => {
    const topic = await compactedTopic("table-retaken", 4);
    const table = partitionedTable(topic);
    await table.start();
    const committed: string[] = [];
    let writing = true;
    const writer = (async () => {
      const producer = harness.backbone.kafka.producer({
        transactionalId: `test-keyed-table-${randomUUID()}`,
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await producer.connect();
      try {
        for (let index = 0; writing; index += 1) {
          const key = `run-${index}`;
          const transaction = await producer.transaction();
          const sent = await transaction.send({ topic, messages: await encoded(topic, [{ partition: 0, key }]) });
          await transaction.commit();
          await visible(topic, sent);
          committed.push(key);
        }
      } finally {
        await producer.disconnect();
      }
    })();
    try {
      await table.own([0, 1]);
      for (let round = 0; round < 8; round += 1) {
        // Each round, partition 0 is given up and taken on again with more written to it since the last.
        const written = committed.length;
        await eventually(() => (committed.length > written ? true : undefined), 20_000, 10);
        await table.own([1]);
        expect(table.get(committed[0] ?? "")).toBeUndefined();
        const before = [...committed];
        await table.own([0, 1], 20_000);
        expect(before.filter((key) => table.get(key) === undefined)).toEqual([]);
      }
    } finally {
      writing = false;
      await writer;
      await table.stop();
    }
  });

  it("does not take a batch fetched before a partition was given up for its reading once taken on again", async () => {
    const topic = await compactedTopic("table-stale-batch", 4);
    // Decoding slowly keeps one partition's batch busy while the other's, fetched with it, waits behind it.
    class SlowCodec extends AvroCodec {
      override async decode<T>(bytes: Buffer | null): Promise<Decoded<T>> {
        await new Promise((resolve) => setTimeout(resolve, 100));
        return super.decode<T>(bytes);
      }
    }
    const { kafka, logger, registry } = harness.backbone;
    const table = new KeyedTable<Request>({ kafka, codec: new SlowCodec(registry), logger, topic, partitioned: true });
    await table.start();
    try {
      await table.own([0, 2]);
      await writeToPartitions(topic, [...keysOf(0, 10), ...keysOf(2, 5)]);
      // Whichever partition's batch is handled first, the other's waits behind it: that one is given up and taken on
      // again while its batch still waits, and must be read again from its start.
      const first = await eventually(
        () => [0, 2].find((partition) => table.get(keysOf(partition, 1)[0]?.key ?? "") !== undefined),
        10_000,
        20,
      );
      const retaken = first === 0 ? 2 : 0;
      await table.own([first]);
      await table.own([0, 2]);
      expect(keysOf(retaken, retaken === 0 ? 10 : 5).filter(({ key }) => table.get(key) === undefined)).toEqual([]);
    } finally {
      await table.stop();
    }
  });
});
