import { BatonError } from "../errors.ts";
import { type RegistryClient, valueSubject } from "./registry.ts";

/** A decoded message value with the registry id of the schema it was written with. */
export interface Decoded<T> {
  value: T;
  schemaId: number;
}

/** How long an id the registry does not know is answered without asking it again (a burst of bad messages). */
const unknownIdMemoryMs = 60_000;

/**
 * Avro in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body) through the registry.
 * Writers use the latest schema of the topic's subject; readers decode with the writer's schema.
 */
export class AvroCodec {
  private readonly registry: RegistryClient;
  private readonly latestIds = new Map<string, Promise<number>>();
  /** Schema ids the registry said it does not know, until when that answer is trusted. */
  private readonly unknownIds = new Map<number, number>();

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

  /**
   * Encodes a value for a topic; a value that does not fit the record fails with ENCODE_FAILED naming the fields,
   * a registry that cannot be reached with REGISTRY_UNAVAILABLE (retried).
   */
  async encode(topic: string, value: unknown): Promise<Buffer> {
    const id = await this.schemaIdFor(topic);
    await this.schemaById(id);
    try {
      return await this.registry.registry.encode(id, value);
    } catch (error) {
      const paths = (error as { paths?: string[][] }).paths;
      const where = paths === undefined ? "" : ` (bad fields: ${paths.map((path) => path.join(".")).join(", ")})`;
      throw new BatonError("ENCODE_FAILED", `value does not match the schema of ${topic}${where}`, { cause: error });
    }
  }

  /**
   * Decodes Confluent wire-format bytes. Bytes that are not in the wire format, a schema id the registry does not
   * know, and a body that does not fit its schema fail with DECODE_FAILED and the reason (terminal: the message
   * goes to its dead letter). A registry that cannot be reached or answers with an error of its own fails with
   * REGISTRY_UNAVAILABLE, which is retried: an outage must not dead-letter good messages.
   */
  async decode<T>(bytes: Buffer | null): Promise<Decoded<T>> {
    if (bytes === null) throw new BatonError("DECODE_FAILED", "message has no value (tombstone)");
    if (bytes.length < 5 || bytes[0] !== 0) {
      throw new BatonError(
        "DECODE_FAILED",
        "value is not in the Confluent wire format (missing magic byte 0 and schema id)",
      );
    }
    const schemaId = bytes.readInt32BE(1);
    await this.schemaById(schemaId);
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

  /** Makes sure a schema is known (the registry client caches it), classifying a failure to fetch it. */
  private async schemaById(schemaId: number): Promise<void> {
    const unknownUntil = this.unknownIds.get(schemaId);
    if (unknownUntil !== undefined && unknownUntil > Date.now()) {
      throw new BatonError("DECODE_FAILED", `schema id ${schemaId} is not in the registry`, { details: { schemaId } });
    }
    try {
      await this.registry.registry.getSchema(schemaId);
    } catch (error) {
      if ((error as { status?: unknown }).status === 404) {
        this.unknownIds.set(schemaId, Date.now() + unknownIdMemoryMs);
        throw new BatonError("DECODE_FAILED", `schema id ${schemaId} is not in the registry`, {
          cause: error,
          details: { schemaId },
        });
      }
      throw new BatonError(
        "REGISTRY_UNAVAILABLE",
        `cannot fetch schema id ${schemaId} from the registry at ${this.registry.url}: ${(error as Error).message}`,
        { cause: error, details: { schemaId } },
      );
    }
  }
}
