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
