import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrivateKey, randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import { BatonError } from "../../shared/errors.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { TopicWatcher } from "../../shared/kafka/topic-watcher.ts";
import type { Request } from "../../shared/schemas/records.ts";
import { generateSigningKeys, parsePublicKey, verifyRecord } from "../../shared/security/record-signature.ts";
import { parseWorkflow, type Workflow } from "../../services/planner/workflow-file.ts";
import { startTriggers } from "../../services/gateway/triggers/index.ts";
import { eventually, openHarness, sampleRequest, type Harness } from "./harness.ts";

// startTriggers in this process, as the gateway calls it, against the real broker and registry: an Avro topic
// trigger. No stage runs; the requests it writes are read back from baton.requests.
describe("startTriggers on an Avro topic", () => {
  let harness: Harness;
  let producer: BatonProducer;
  let requests: TopicWatcher<Request>;

  beforeAll(async () => {
    harness = await openHarness("test-triggers");
    const { kafka, codec, tracing } = harness.backbone;
    producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
    requests = new TopicWatcher<Request>({ kafka, codec, topic: "baton.requests", keepAll: true });
    await requests.start();
  });

  afterAll(async () => {
    await requests.stop();
    await producer.disconnect();
    await harness.close();
  });

  function workflowsReading(topic: string): Map<string, Workflow> {
    const workflow = parseWorkflow(
      `name: avro-follow-up
steps:
  - { id: search, tool: knowledge-base/search, arguments: { query: "{{ request.input }}" } }
triggers:
  - name: on-request
    topic: ${topic}
    format: avro
    match: { path: record.value.metadata.channel, equals: shop }
    tenant: demo
    input: "Follow up: {{ record.value.input }}"
    metadata: { original: "{{ record.key }}" }
`,
      "avro-follow-up.yaml",
    );
    return new Map([[workflow.name, workflow]]);
  }

  it("fires a signed request for a matching Avro record; skips and counts a non-matching and an undecodable one", async () => {
    const topic = harness.uniqueTopic("trigger-avro");
    await harness.createTopic(topic, { partitions: 2, record: "baton.Request" });
    const keys = generateSigningKeys();
    const registry = new Registry();
    const triggers = await startTriggers({
      backbone: harness.backbone,
      producer,
      workflows: workflowsReading(topic),
      groupId: `test-triggers-${randomUUID()}`,
      signer: { principal: "scheduler", privateKey: createPrivateKey(keys.privateKeyPem) },
      registry,
    });
    try {
      expect(triggers.names).toEqual(["avro-follow-up.on-request"]);
      const matching = `shop-${randomUUID()}`;
      const other = `other-${randomUUID()}`;
      await producer.send([
        { topic, key: other, value: { ...sampleRequest(other, "ignore me"), metadata: { channel: "web" } } },
      ]);
      await producer.sendRaw([{ topic, key: "raw", value: Buffer.from('{"not":"avro"}') }]);
      await producer.send([
        {
          topic,
          key: matching,
          value: { ...sampleRequest(matching, "Where is my parcel?"), metadata: { channel: "shop" } },
        },
      ]);
      const fired = await eventually(
        () => requests.matching((key) => key.startsWith(`trigger:avro-follow-up:on-request:${topic}:`))[0],
        30_000,
      );
      expect(fired.value).toMatchObject({
        tenant: "demo",
        workflow: "avro-follow-up",
        input: "Follow up: Where is my parcel?",
        metadata: { original: matching, triggeredBy: "avro-follow-up.on-request" },
      });
      const signed = verifyRecord("baton.requests", fired.value, fired.headers, (principal) =>
        principal === "scheduler" ? parsePublicKey(keys.publicKey) : undefined,
      );
      expect(signed).toEqual({ principal: "scheduler" });
      const skipped = await eventually(async () => {
        const metric = await registry.getSingleMetricAsString("baton_trigger_records_skipped_total");
        return metric.includes('reason="undecodable"') && metric.includes('reason="not_matching"') ? metric : undefined;
      }, 30_000);
      expect(skipped).toContain(
        'baton_trigger_records_skipped_total{trigger="avro-follow-up.on-request",reason="not_matching"} 1',
      );
      expect(skipped).toContain(
        'baton_trigger_records_skipped_total{trigger="avro-follow-up.on-request",reason="undecodable"} 1',
      );
      expect(await registry.getSingleMetricAsString("baton_trigger_fires_total")).toContain(
        'baton_trigger_fires_total{trigger="avro-follow-up.on-request"} 1',
      );
      expect(requests.matching((key) => key.includes(`:${topic}:`))).toHaveLength(1);
    } finally {
      await triggers.stop();
    }
  });

  it("refuses to start when a trigger's topic does not exist, naming the topic and the trigger", async () => {
    const topic = harness.uniqueTopic("trigger-absent");
    const error = await startTriggers({
      backbone: harness.backbone,
      producer,
      workflows: workflowsReading(topic),
      groupId: `test-triggers-${randomUUID()}`,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BatonError);
    expect((error as BatonError).code).toBe("CONFIG_INVALID");
    expect((error as BatonError).message).toContain(topic);
    expect((error as BatonError).message).toContain("avro-follow-up.on-request");
  });
});
