import { describe, it, expect, vi } from "vitest";
import { AvroCodec } from "./codec.ts";
import { RegistryClient } from "./registry.ts";
import { BatonError } from "../errors.ts";

/** Nothing listens on port 1: a request that reached the registry would fail differently and slowly. */
function offlineCodec() {
  const client = new RegistryClient("http://127.0.0.1:1");
  const registryDecode = vi.spyOn(client.registry, "decode");
  return { codec: new AvroCodec(client), registryDecode };
}

async function decodeFailure(codec: AvroCodec, bytes: Buffer | null): Promise<BatonError> {
  const error: unknown = await codec.decode(bytes).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof BatonError)) throw new Error(`expected a BatonError, got ${String(error)}`);
  return error;
}

describe("AvroCodec.decode without a registry round trip", () => {
  it.each([
    ["a tombstone (null value)", null],
    ["bytes whose first byte is not the magic byte 0", Buffer.from([1, 0, 0, 0, 7, 2, 104, 105])],
    ["plain JSON text", Buffer.from('{"requestId":"r1"}', "utf8")],
    ["bytes too short to hold a schema id", Buffer.from([0, 0, 0, 7])],
    ["no bytes at all", Buffer.alloc(0)],
  ])("rejects %s with a terminal DECODE_FAILED before asking the registry", async (_label, bytes) => {
    const { codec, registryDecode } = offlineCodec();
    const error = await decodeFailure(codec, bytes);
    expect(error.code).toBe("DECODE_FAILED");
    expect(error.retriable).toBe(false);
    expect(error.details["schemaId"]).toBeUndefined();
    expect(registryDecode).not.toHaveBeenCalled();
  });

  it("says a null value is a tombstone and foreign bytes are not in the wire format", async () => {
    const { codec } = offlineCodec();
    expect((await decodeFailure(codec, null)).message).toMatch(/tombstone/);
    expect((await decodeFailure(codec, Buffer.from("hello"))).message).toMatch(/wire format/);
  });
});

describe("AvroCodec.decode when the writer's schema must come from the registry", () => {
  /** Confluent wire format: magic byte 0, the schema id, then a body. */
  function framed(schemaId: number): Buffer {
    const header = Buffer.alloc(5);
    header.writeInt32BE(schemaId, 1);
    return Buffer.concat([header, Buffer.from([2, 104, 105])]);
  }

  it("a registry that cannot be reached is REGISTRY_UNAVAILABLE, retried, not a dead letter", async () => {
    const { codec } = offlineCodec();
    const error = await decodeFailure(codec, framed(7));
    expect(error.code).toBe("REGISTRY_UNAVAILABLE");
    expect(error.retriable).toBe(true);
    expect(error.message).toMatch(/cannot fetch schema id 7 from the registry at http:\/\/127\.0\.0\.1:1/);
  });

  it("a registry that answers with a server error is REGISTRY_UNAVAILABLE too", async () => {
    const client = new RegistryClient("http://127.0.0.1:1");
    vi.spyOn(client.registry, "getSchema").mockRejectedValue(
      Object.assign(new Error("internal error"), { status: 500 }),
    );
    const error = await decodeFailure(new AvroCodec(client), framed(8));
    expect([error.code, error.retriable]).toEqual(["REGISTRY_UNAVAILABLE", true]);
  });

  it("an id the registry does not know is a terminal DECODE_FAILED, and is not asked about again for a while", async () => {
    const client = new RegistryClient("http://127.0.0.1:1");
    const getSchema = vi
      .spyOn(client.registry, "getSchema")
      .mockRejectedValue(Object.assign(new Error("No content with ID '9' was found."), { status: 404 }));
    const codec = new AvroCodec(client);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const error = await decodeFailure(codec, framed(9));
      expect([error.code, error.retriable, error.details["schemaId"]]).toEqual(["DECODE_FAILED", false, 9]);
      expect(error.message).toBe("schema id 9 is not in the registry");
    }
    expect(getSchema).toHaveBeenCalledTimes(1);
  });
});

describe("AvroCodec.encode", () => {
  it("a registry that cannot be reached for the schema is REGISTRY_UNAVAILABLE, not a value that does not fit", async () => {
    const client = new RegistryClient("http://127.0.0.1:1");
    vi.spyOn(client.registry, "getLatestSchemaId").mockResolvedValue(5);
    const error: unknown = await new AvroCodec(client).encode("baton.requests", { requestId: "r1" }).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(BatonError);
    expect([(error as BatonError).code, (error as BatonError).retriable]).toEqual(["REGISTRY_UNAVAILABLE", true]);
  });
});
