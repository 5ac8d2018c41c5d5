import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AvroCodec } from "../../shared/schemas/codec.ts";
import { RegistryClient } from "../../shared/schemas/registry.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { KeyedTable } from "../../shared/kafka/keyed-table.ts";
import type { Request } from "../../shared/schemas/records.ts";
import { eventually, openHarness, sampleRequest, type Harness } from "./harness.ts";

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

  async function compactedTopic(label: string): Promise<string> {
    const topic = harness.uniqueTopic(label);
    await harness.createTopic(topic, { record: "baton.Request", config: { "cleanup.policy": "compact" } });
    return topic;
  }

  it("keeps this process's own write ahead of older values it still reads, until told to forget it", async () => {
    const topic = await compactedTopic("table-overlay");
    const { kafka, codec, logger } = harness.backbone;
    const table = new KeyedTable<Request>({ kafka, codec, logger, topic });
    await table.start();
    try {
      table.set("run-1", sampleRequest("run-1", "newest, written here"));
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
      table.set("fresh", sampleRequest("fresh", "written now"));
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
});
