import { BatonError } from "../../../shared/errors.ts";
import type { AvroCodec } from "../../../shared/schemas/codec.ts";

/**
 * Decodes a trigger record's value: UTF-8 JSON, or Avro in the Confluent wire format through the registry. A value
 * that cannot be decoded fails with DECODE_FAILED (the record is skipped); a registry that cannot be reached fails
 * with REGISTRY_UNAVAILABLE, which is retriable (the record is read again later, never skipped for it).
 */
export async function decodeTriggerValue(
  format: "json" | "avro",
  bytes: Buffer | null,
  codec: Pick<AvroCodec, "decode">,
): Promise<unknown> {
  if (bytes === null) throw new BatonError("DECODE_FAILED", "the record has no value (a tombstone)");
  if (format === "avro") return (await codec.decode<unknown>(bytes)).value;
  const text = bytes.toString("utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new BatonError("DECODE_FAILED", `not JSON: ${(error as Error).message}`);
  }
}
