import { randomUUID } from "node:crypto";
import type { Consumer, Kafka } from "kafkajs";
import type { AvroCodec } from "../schemas/codec.ts";
import type { Logger } from "../telemetry/logger.ts";
import { BatonError } from "../errors.ts";

/** Options for {@link KeyedTable}. */
export interface KeyedTableOptions<T> {
  kafka: Kafka;
  codec: AvroCodec;
  logger: Logger;
  /** A compacted topic whose latest value per key is the state (a tombstone deletes the key). */
  topic: string;
  /**
   * Called with each value read or set (undefined for a tombstone), for indexes kept beside the table. Reads may
   * deliver a key's older values after a newer `set`, so an index built on it is a hint to check with `get`.
   */
  onChange?: (key: string, value: T | undefined) => void;
}

/**
 * The latest value of every key of a compacted topic, kept in memory and followed live: how planners
 * restore run state and how stages read the tool catalogue. Every instance reads every partition, so a
 * run moved to another planner is already known there; `catchUp` waits until what was written is read.
 */
export class KeyedTable<T> {
  private readonly options: KeyedTableOptions<T>;
  private readonly consumer: Consumer;
  private readonly values = new Map<string, T>();
  /** Values this process wrote, ahead of the table's reading (which may still deliver older ones). */
  private readonly written = new Map<string, T>();
  /** When each key was last written (the message's timestamp, or when `set`). */
  private readonly writtenAt = new Map<string, number>();
  private readonly positions = new Map<number, bigint>();
  private readonly listeners = new Set<() => void>();

  constructor(options: KeyedTableOptions<T>) {
    this.options = options;
    this.consumer = options.kafka.consumer({
      groupId: `baton-table-${options.topic}-${randomUUID()}`,
      allowAutoTopicCreation: false,
    });
  }

  private advance(partition: number, offset: string): void {
    const next = BigInt(offset) + 1n;
    if (next > (this.positions.get(partition) ?? 0n)) this.positions.set(partition, next);
    for (const listener of this.listeners) listener();
  }

  /** Starts following the topic and resolves once everything written before the call has been read. */
  async start(): Promise<void> {
    // A batch's last offset counts transaction markers, which are never delivered as messages, so positions
    // still reach the end of a topic written in transactions.
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.lastOffset !== null && payload.lastOffset !== undefined)
        this.advance(payload.partition, String(payload.lastOffset));
    });
    const { topic, logger } = this.options;
    try {
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: [topic], fromBeginning: true });
    } catch (error) {
      throw new BatonError("KAFKA_UNAVAILABLE", `cannot read ${topic}: ${(error as Error).message}`, { cause: error });
    }
    await this.consumer.run({
      autoCommit: false,
      eachMessage: async (payload) => {
        const { partition, message } = payload;
        const key = message.key?.toString("utf8");
        if (key !== undefined) {
          if (message.value === null) {
            this.values.delete(key);
            this.writtenAt.delete(key);
            this.options.onChange?.(key, undefined);
          } else {
            try {
              const value = await this.decodeWaitingForRegistry(message.value, () => payload.heartbeat());
              this.values.set(key, value);
              this.writtenAt.set(key, Math.max(this.writtenAt.get(key) ?? 0, Number(message.timestamp)));
              this.options.onChange?.(key, value);
            } catch (error) {
              logger.error(
                { topic, partition, offset: message.offset, err: error },
                "skipping undecodable table entry",
              );
            }
          }
        }
        this.advance(partition, message.offset);
      },
    });
    await this.catchUp();
  }

  /**
   * Decodes a table entry. While the registry cannot be reached, waits and asks again (1 s, doubling up to 30 s)
   * instead of skipping the entry: state must not go missing because of an outage. A terminal failure (an entry
   * that is not Avro, an unknown schema id) is thrown, and the entry skipped by the caller.
   */
  private async decodeWaitingForRegistry(bytes: Buffer | null, heartbeat: () => Promise<void>): Promise<T> {
    for (let delayMs = 1_000; ; delayMs = Math.min(delayMs * 2, 30_000)) {
      try {
        return (await this.options.codec.decode<T>(bytes)).value;
      } catch (error) {
        if (!(error instanceof BatonError) || !error.retriable) throw error;
        this.options.logger.warn(
          { topic: this.options.topic, err: error, retryInMs: delayMs },
          "table waits for the schema registry",
        );
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        await heartbeat().catch(() => undefined);
      }
    }
  }

  /** Resolves once this table has read every message written to the topic before the call. */
  async catchUp(timeoutMs = 60_000): Promise<void> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    let ends: Array<{ partition: number; high: string; low: string }>;
    try {
      ends = await admin.fetchTopicOffsets(this.options.topic);
    } finally {
      await admin.disconnect();
    }
    const reached = (): boolean =>
      ends.every(({ partition, high, low }) => high === low || (this.positions.get(partition) ?? 0n) >= BigInt(high));
    if (reached()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(
          new BatonError("KAFKA_UNAVAILABLE", `could not read ${this.options.topic} to its end within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      const check = (): void => {
        if (!reached()) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      this.listeners.add(check);
    });
  }

  /** The latest value of a key, if any: this process's own write first, else the latest one read. */
  get(key: string): T | undefined {
    return this.written.get(key) ?? this.values.get(key);
  }

  /**
   * Records a value this process just wrote (and committed), so it is visible at once. It stays ahead of what
   * the table reads until {@link forgetWritten}: the table may still deliver this key's older values.
   */
  set(key: string, value: T): void {
    this.written.set(key, value);
    this.writtenAt.set(key, Date.now());
    this.options.onChange?.(key, value);
  }

  /**
   * Forgets keys last written more than `ageMs` ago (as the broker does for a `compact,delete` topic), except
   * those `keep` holds on to; returns how many were forgotten.
   */
  evictOlderThan(ageMs: number, keep: (value: T) => boolean = () => false, now = Date.now()): number {
    let evicted = 0;
    for (const [key, at] of this.writtenAt) {
      if (at >= now - ageMs) continue;
      const value = this.get(key);
      if (value !== undefined && keep(value)) continue;
      this.values.delete(key);
      this.written.delete(key);
      this.writtenAt.delete(key);
      this.options.onChange?.(key, undefined);
      evicted += 1;
    }
    return evicted;
  }

  /**
   * Drops this process's own writes, for when another process may write the same keys (after a rebalance);
   * follow it with {@link catchUp}, which reads past them.
   */
  forgetWritten(): void {
    this.written.clear();
  }

  /** Every key's latest value, as {@link get} sees it. */
  *entries(): IterableIterator<[string, T]> {
    for (const [key, value] of this.values) if (!this.written.has(key)) yield [key, value];
    yield* this.written.entries();
  }

  /** Stops following the topic. */
  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}
