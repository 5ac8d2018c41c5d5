import { afterAll, beforeAll, describe, expect, it } from "vitest";
import avro from "avsc";
import { readAvroFiles, type AvroFile } from "../../shared/schemas/avro-files.ts";
import { BatonError } from "../../shared/errors.ts";
import { openHarness, sampleRequest, type Harness } from "./harness.ts";

function variant(base: AvroFile, change: (schema: { fields: Array<Record<string, unknown>> }) => void): AvroFile {
  const json = JSON.parse(base.text) as { fields: Array<Record<string, unknown>> };
  change(json);
  return { ...base, text: JSON.stringify(json), type: avro.Type.forSchema(json as unknown as avro.Schema) };
}

describe("schemas in the registry", () => {
  let harness: Harness;
  let request: AvroFile;
  const subjects: string[] = [];

  beforeAll(async () => {
    harness = await openHarness("test-schemas");
    const file = (await readAvroFiles()).get("baton.Request");
    if (file === undefined) throw new Error("schemas/request.avsc missing");
    request = file;
  });

  afterAll(async () => {
    for (const subject of subjects) await harness.backbone.registry.deleteSubject(subject).catch(() => undefined);
    await harness.close();
  });

  it("registering the same schema twice is idempotent", async () => {
    const subject = `${harness.uniqueTopic("schema")}-value`;
    subjects.push(subject);
    const first = await harness.backbone.registry.apply(subject, request);
    const again = await harness.backbone.registry.apply(subject, request);
    expect(first.unchanged).toBe(false);
    expect(again).toEqual({ ...first, unchanged: true });
  });

  it("a backward-compatible change (a new field with a default) is accepted as a new version", async () => {
    const subject = `${harness.uniqueTopic("schema")}-value`;
    subjects.push(subject);
    const first = await harness.backbone.registry.apply(subject, request);
    const added = variant(request, (schema) => schema.fields.push({ name: "priority", type: "int", default: 0 }));
    const second = await harness.backbone.registry.apply(subject, added);
    expect(second.unchanged).toBe(false);
    expect(second.id).not.toBe(first.id);
  });

  it("an incompatible schema change is refused with the registry's reason", async () => {
    const subject = `${harness.uniqueTopic("schema")}-value`;
    subjects.push(subject);
    await harness.backbone.registry.apply(subject, request);
    const breaking = variant(request, (schema) => schema.fields.push({ name: "priority", type: "int" }));
    const refusal = await harness.backbone.registry.apply(subject, breaking).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(BatonError);
    expect((refusal as BatonError).code).toBe("SCHEMA_INCOMPATIBLE");
    expect((refusal as BatonError).message).toMatch(/refused by the registry: .+/);
  });

  it("a value encoded for a topic decodes to the same record in the Confluent wire format", async () => {
    const topic = harness.uniqueTopic("codec");
    await harness.createTopic(topic, { record: "baton.Request" });
    const value = sampleRequest("codec-1");
    const bytes = await harness.backbone.codec.encode(topic, value);
    expect(bytes[0]).toBe(0);
    const decoded = await harness.backbone.codec.decode(bytes);
    expect(decoded.value).toEqual(value);
    await expect(harness.backbone.codec.encode(topic, { ...value, tenant: 42 })).rejects.toMatchObject({
      code: "ENCODE_FAILED",
    });
  });
});
