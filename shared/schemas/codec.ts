import { BatonError } from "../errors.ts";
import { type RegistryClient, valueSubject } from "./registry.ts";

/** A decoded message value with the registry id of the schema it was written with. */
export interface Decoded<T> {
  value: T;
  schemaId: number;
}

/**
 * Avro in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body) through the registry.
 * Writers use the latest schema of the topic's subject; readers decode with the writer's schema.
 */
export class AvroCodec {
  private readonly registry: RegistryClient;
  private readonly latestIds = new Map<string, Promise<number>>();

  constructor(registry: RegistryClient) {
    this.registry = registry;
  }

  private schemaIdFor(topic: string): Promise<number> {
    const subject = valueSubject(topic);
    let id = this.latestIds.get(subject);
    if (id === undefined) {
      id = this.registry.latestId(subject);
      id.catch(() => this.latestIds.delete(subject));
      this.latestIds.set(subject, id);
    }
    return id;
  }

  /** Encodes a value for a topic; a value that does not fit the record fails with ENCODE_FAILED naming the fields. */
  async encode(topic: string, value: unknown): Promise<Buffer> {
    const id = await this.schemaIdFor(topic);
    try {
      return await this.registry.registry.encode(id, value);
    } catch (error) {
      const paths = (error as { paths?: string[][] }).paths;
      const where = paths === undefined ? "" : ` (bad fields: ${paths.map((path) => path.join(".")).join(", ")})`;
      throw new BatonError("ENCODE_FAILED", `value does not match the schema of ${topic}${where}`, { cause: error });
    }
  }

  /** Decodes Confluent wire-format bytes; anything else fails with DECODE_FAILED and the reason. */
  async decode<T>(bytes: Buffer | null): Promise<Decoded<T>> {
    if (bytes === null) throw new BatonError("DECODE_FAILED", "message has no value (tombstone)");
    if (bytes.length < 5 || bytes[0] !== 0) {
      throw new BatonError(
        "DECODE_FAILED",
        "value is not in the Confluent wire format (missing magic byte 0 and schema id)",
      );
    }
    const schemaId = bytes.readInt32BE(1);
    try {
      const value = (await this.registry.registry.decode(bytes)) as T;
      return { value, schemaId };
    } catch (error) {
      throw new BatonError("DECODE_FAILED", `cannot decode with schema id ${schemaId}: ${(error as Error).message}`, {
        cause: error,
        details: { schemaId },
      });
    }
  }
}
