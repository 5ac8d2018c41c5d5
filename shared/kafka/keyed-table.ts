import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Consumer, Kafka } from "kafkajs";
import type { AvroCodec } from "../schemas/codec.ts";
import type { Logger } from "../telemetry/logger.ts";
import { BatonError } from "../errors.ts";
import { PartitionReads, type PartitionLoad } from "./partition-reads.ts";

export type { PartitionLoad } from "./partition-reads.ts";

/** Options for {@link KeyedTable}. */
export interface KeyedTableOptions<T> {
  kafka: Kafka;
  codec: AvroCodec;
  logger: Logger;
  /** A compacted topic whose latest value per key is the state (a tombstone deletes the key). */
  topic: string;
  /**
   * Called with each value read or set (undefined for a tombstone or a key dropped) and the key's partition, for
   * indexes kept beside the table. Reads may deliver a key's older values after a newer `set`, so an index built on
   * it is a hint to check with `get`.
   */
  onChange?: (key: string, value: T | undefined, partition: number) => void;
  /**
   * Holds only the partitions this instance owns ({@link KeyedTable.own}) instead of the whole topic: for state
   * co-partitioned with a stage's input, so memory and start time follow the instance's share of the traffic.
   */
  partitioned?: boolean;
}

function offsetOrNull(offset: unknown): string | null {
  return typeof offset === "string" ? offset : null;
}

/**
 * The latest value of every key of a compacted topic, kept in memory and followed live: how planners restore run
 * state and how stages read the tool catalogue. A table reads every partition, or, `partitioned`, only those its
 * instance owns ({@link own}), so memory and start time follow the instance's share; `catchUp` waits until what was
 * written is read.
 */
export class KeyedTable<T> {
  private readonly options: KeyedTableOptions<T>;
  /** The consumer reading now; replaced by a new one, in a new group, when it crashes. */
  private consumer: Consumer | undefined;
  /** Whether the current consumer has joined its group: until then, its join seeks and steers. */
  private joined = false;
  private stopping = false;
  private readonly reads: PartitionReads;
  private readonly values = new Map<string, T>();
  /** Values this process wrote, ahead of the table's reading (which may still deliver older ones). */
  private readonly written = new Map<string, T | null>();
  /** When each key was last written (the message's timestamp, or when `set`). */
  private readonly writtenAt = new Map<string, number>();
  /** The partition of each key held, and how many keys are held per partition. */
  private readonly partitionOf = new Map<string, number>();
  private readonly keysPerPartition = new Map<number, number>();
  private readonly loads = new Map<number, PartitionLoad>();
  private readonly listeners = new Set<() => void>();
  private started = false;

  constructor(options: KeyedTableOptions<T>) {
    this.options = options;
    this.reads = new PartitionReads({ followAll: options.partitioned !== true });
  }

  /**
   * Starts following the topic. A table that is not partitioned resolves once everything written before the call
   * has been read; a partitioned one owns no partition yet and reads nothing until {@link own}.
   */
  async start(): Promise<void> {
    try {
      await this.runConsumer();
    } catch (error) {
      const { topic } = this.options;
      throw new BatonError("KAFKA_UNAVAILABLE", `cannot read ${topic}: ${(error as Error).message}`, { cause: error });
    }
    this.started = true;
    if (this.options.partitioned !== true) await this.catchUp();
  }

  /**
   * Creates a consumer in a group of its own and runs it. A new group, not kafkajs's restart in the same one: the
   * crashed member could not leave (the broker was down, its connection broken), and a join to its group waits
   * until the broker expires it (the session timeout, 30 s). The first join seeks to where the reading stands.
   */
  private async runConsumer(): Promise<void> {
    const { kafka, topic, partitioned } = this.options;
    const consumer = kafka.consumer({
      groupId: `baton-table-${topic}-${randomUUID()}`,
      allowAutoTopicCreation: false,
      // A partition taken on is fetched with the consumer's next fetch: wait little for data of the others.
      ...(partitioned === true ? { maxWaitTimeInMs: 500 } : {}),
      retry: { retries: 5, restartOnFailure: () => Promise.resolve(false) },
    });
    this.consumer = consumer;
    this.joined = false;
    const current = (): boolean => consumer === this.consumer;
    const { events } = consumer;
    consumer.on(events.FETCH_START, ({ payload }) => {
      if (current()) this.reads.fetchStarted(payload.nodeId);
    });
    consumer.on(events.START_BATCH_PROCESS, ({ payload }) => {
      if (current()) this.reads.batchStarted(payload.partition);
    });
    consumer.on(events.END_BATCH_PROCESS, ({ payload }) => {
      if (!current()) return;
      // kafkajs types the offsets as strings, but a batch of records all before the fetch offset has no first one.
      this.reads.batchEnded(payload.partition, {
        batchSize: payload.batchSize,
        firstOffset: offsetOrNull(payload.firstOffset),
        lastOffset: offsetOrNull(payload.lastOffset),
      });
      this.notify();
    });
    // Runs before the first fetch of every join: a join forgets pauses and positions.
    consumer.on(events.GROUP_JOIN, () => {
      if (!current()) return;
      this.joined = true;
      for (const { partition, offset } of this.reads.rejoined()) this.seek(partition, offset);
      this.steer();
    });
    consumer.on(events.CRASH, ({ payload }) => {
      if (!current() || this.stopping) return;
      this.joined = false;
      this.consumer = undefined;
      this.options.logger.warn({ topic, err: payload.error }, "table consumer crashed; reading on with a new one");
      void this.replaceConsumer();
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await this.runEachMessage(consumer);
    } catch (error) {
      this.consumer = undefined;
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
  }

  /** After a crash: runs a new consumer, trying again (1 s, doubling up to 5 s) while the broker is down. */
  private async replaceConsumer(): Promise<void> {
    for (let delayMs = 1_000; !this.stopping; delayMs = Math.min(delayMs * 2, 5_000)) {
      await sleep(delayMs);
      if (this.stopping) return;
      try {
        await this.runConsumer();
        if (this.stopping) await this.consumer?.disconnect();
        return;
      } catch (error) {
        this.options.logger.warn(
          { topic: this.options.topic, err: error, retryInMs: delayMs },
          "table waits for the broker to read on",
        );
      }
    }
  }

  private async runEachMessage(consumer: Consumer): Promise<void> {
    const { topic, logger } = this.options;
    await consumer.run({
      autoCommit: false,
      eachMessage: async (payload) => {
        const { partition, message } = payload;
        const epoch = this.reads.readingEpoch(partition);
        if (epoch === undefined) return;
        const key = message.key?.toString("utf8");
        let value: T | undefined;
        let decoded = true;
        if (key !== undefined && message.value !== null) {
          try {
            value = await this.decodeWaitingForRegistry(
              message.value,
              () => payload.heartbeat(),
              () => this.reads.readingEpoch(partition) === epoch,
            );
            if (value === undefined) return;
          } catch (error) {
            decoded = false;
            logger.error({ topic, partition, offset: message.offset, err: error }, "skipping undecodable table entry");
          }
        }
        if (!this.reads.messageRead(partition, epoch, message.offset)) return;
        if (key !== undefined && decoded) this.apply(key, value, partition, Number(message.timestamp));
        this.notify();
      },
    });
  }

  private apply(key: string, value: T | undefined, partition: number, timestamp: number): void {
    if (value === undefined) {
      this.values.delete(key);
      this.writtenAt.delete(key);
      if (!this.written.has(key)) this.untrack(key);
    } else {
      this.values.set(key, value);
      this.writtenAt.set(key, Math.max(this.writtenAt.get(key) ?? 0, timestamp));
      this.track(key, partition);
    }
    this.options.onChange?.(key, value, partition);
  }

  private track(key: string, partition: number): void {
    const previous = this.partitionOf.get(key);
    if (previous === partition) return;
    if (previous !== undefined) this.keysPerPartition.set(previous, (this.keysPerPartition.get(previous) ?? 1) - 1);
    this.partitionOf.set(key, partition);
    this.keysPerPartition.set(partition, (this.keysPerPartition.get(partition) ?? 0) + 1);
  }

  private untrack(key: string): void {
    const partition = this.partitionOf.get(key);
    if (partition === undefined) return;
    this.partitionOf.delete(key);
    this.keysPerPartition.set(partition, (this.keysPerPartition.get(partition) ?? 1) - 1);
  }

  /** Logs and records the loads that have reached their end, then wakes whoever waits for a position. */
  private notify(): void {
    if (this.options.partitioned === true) {
      for (const { partition, catchUpMs } of this.reads.finishLoads(Date.now())) {
        const entries = this.keysPerPartition.get(partition) ?? 0;
        this.loads.set(partition, { entries, catchUpMs });
        this.options.logger.info(
          { topic: this.options.topic, partition, entries, catchUpMs },
          "table partition loaded",
        );
      }
    }
    for (const listener of this.listeners) listener();
  }

  /**
   * Pauses every partition but those being read (a partitioned table); kafkajs keeps this until the next join,
   * which steers again.
   */
  private steer(): void {
    if (this.options.partitioned !== true) return;
    const { topic } = this.options;
    const reading = this.reads.readingPositions().map(({ partition }) => partition);
    this.direct((consumer) => {
      consumer.pause([{ topic }]);
      if (reading.length > 0) consumer.resume([{ topic, partitions: reading }]);
    });
  }

  private seek(partition: number, offset: bigint): void {
    this.direct((consumer) => consumer.seek({ topic: this.options.topic, partition, offset: offset.toString() }));
  }

  /**
   * Tells the consumer where to read, once it has joined: before, or while it crashes (kafkajs refuses, or forgets
   * with the group it leaves), the join of the consumer that reads next seeks and steers from the reads.
   */
  private direct(action: (consumer: Consumer) => void): void {
    if (this.consumer === undefined || !this.joined) return;
    try {
      action(this.consumer);
    } catch (error) {
      this.options.logger.debug(
        { topic: this.options.topic, err: error },
        "table consumer crashing; its next join steers",
      );
    }
  }

  /**
   * Sets the partitions this instance owns now (a partitioned table; call it at each rebalance, after `start`).
   * Keys of partitions given up are dropped, with `onChange(key, undefined)`; partitions taken on are read from
   * their beginning. Resolves once every owned partition has been read to the end it had when taken on.
   */
  async own(partitions: readonly number[], timeoutMs = 60_000): Promise<void> {
    const { topic, logger } = this.options;
    if (this.options.partitioned !== true || !this.started) {
      throw new BatonError("INTERNAL", `own() needs a partitioned table of ${topic}, started`, { retriable: false });
    }
    const deadline = Date.now() + timeoutMs;
    const wanted = new Set(partitions);
    for (const partition of this.reads.owned()) if (!wanted.has(partition)) this.drop(partition);
    const now = Date.now();
    for (const partition of wanted) this.reads.own(partition, now);
    this.steer();
    this.notify();
    // Partitions taken on, or left unread by an earlier call that failed, are read up to the ends fetched now.
    const starting = this.reads.awaitingStart();
    if (starting.length > 0) {
      const offsets = new Map((await this.fetchOffsets(deadline)).map((entry) => [entry.partition, entry]));
      for (const { partition, epoch } of starting) {
        const found = offsets.get(partition);
        if (found === undefined) logger.warn({ topic, partition }, "table owns a partition its topic does not have");
        const low = BigInt(found?.low ?? 0);
        if (!this.reads.startReading(partition, epoch, low, BigInt(found?.high ?? 0))) continue;
        if (found !== undefined) this.seek(partition, low);
      }
      this.steer();
      this.notify();
    }
    await this.waitFor(
      () => [...wanted].every((partition) => !this.reads.isOwned(partition) || this.reads.isLoaded(partition)),
      deadline - Date.now(),
      `could not read partitions ${[...wanted].join(", ")} of ${topic} to their end within ${timeoutMs} ms`,
    );
  }

  private drop(partition: number): void {
    this.reads.drop(partition);
    this.loads.delete(partition);
    this.keysPerPartition.delete(partition);
    for (const [key, owner] of this.partitionOf) {
      if (owner !== partition) continue;
      this.partitionOf.delete(key);
      this.values.delete(key);
      this.written.delete(key);
      this.writtenAt.delete(key);
      this.options.onChange?.(key, undefined, partition);
    }
  }

  /**
   * Decodes a table entry. While the registry cannot be reached, waits and asks again (1 s, doubling up to 30 s)
   * instead of skipping the entry: state must not go missing because of an outage. Gives up (undefined) once the
   * entry is no longer wanted. A terminal failure (an entry that is not Avro, an unknown schema id) is thrown, and
   * the entry skipped by the caller.
   */
  private async decodeWaitingForRegistry(
    bytes: Buffer | null,
    heartbeat: () => Promise<void>,
    wanted: () => boolean,
  ): Promise<T | undefined> {
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
        if (!wanted()) return undefined;
      }
    }
  }

  /** The topic's offsets, asked for again while the broker cannot be reached, until `deadline`. */
  private async fetchOffsets(deadline: number): Promise<Array<{ partition: number; high: string; low: string }>> {
    for (let delayMs = 500; ; delayMs = Math.min(delayMs * 2, 5_000)) {
      try {
        return await this.fetchOffsetsOnce();
      } catch (error) {
        if (Date.now() + delayMs >= deadline) throw error;
        this.options.logger.warn(
          { topic: this.options.topic, err: error, retryInMs: delayMs },
          "table waits for the broker to fetch offsets",
        );
        await sleep(delayMs);
      }
    }
  }

  private async fetchOffsetsOnce(): Promise<Array<{ partition: number; high: string; low: string }>> {
    const admin = this.options.kafka.admin();
    try {
      await admin.connect();
      // ListOffsets asks for read-committed ends: below an open transaction, which this consumer cannot read past.
      return await admin.fetchTopicOffsets(this.options.topic);
    } catch (error) {
      throw new BatonError(
        "KAFKA_UNAVAILABLE",
        `cannot fetch the offsets of ${this.options.topic}: ${(error as Error).message}`,
        { cause: error },
      );
    } finally {
      await admin.disconnect();
    }
  }

  private async waitFor(reached: () => boolean, timeoutMs: number, failure: string): Promise<void> {
    if (reached()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new BatonError("KAFKA_UNAVAILABLE", failure));
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

  /**
   * Resolves once this table has read every message written to the topic before the call (to the partitions it
   * owns, for a partitioned table).
   */
  async catchUp(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const ends = await this.fetchOffsets(deadline);
    const partitioned = this.options.partitioned === true;
    await this.waitFor(
      () =>
        ends.every(
          ({ partition, high, low }) =>
            (partitioned && !this.reads.isOwned(partition)) ||
            high === low ||
            (this.reads.position(partition) ?? 0n) >= BigInt(high),
        ),
      deadline - Date.now(),
      `could not read ${this.options.topic} to its end within ${timeoutMs} ms`,
    );
  }

  /** The latest value of a key, if any: this process's own write first, else the latest one read. */
  get(key: string): T | undefined {
    if (this.written.has(key)) return this.written.get(key) ?? undefined;
    return this.values.get(key);
  }

  /** How many keys the table holds. */
  get size(): number {
    let size = 0;
    for (const entry of this.entries()) if (entry !== undefined) size += 1;
    return size;
  }

  /**
   * Records a value this process just wrote (and committed), so it is visible at once. It stays ahead of what
   * the table reads until {@link forgetWritten}: the table may still deliver this key's older values. `partition`
   * is the one written to: a partitioned table keeps the value only while it owns that partition, and drops it
   * with the partition.
   */
  set(key: string, value: T, partition: number): void {
    if (this.options.partitioned === true && !this.reads.isOwned(partition)) return;
    this.track(key, partition);
    this.written.set(key, value);
    this.writtenAt.set(key, Date.now());
    this.options.onChange?.(key, value, partition);
  }

  /**
   * Records a tombstone this process just wrote (and committed): the key is gone at once, as {@link set} makes a
   * value visible at once, even if the table still reads the key's older values.
   */
  delete(key: string, partition: number): void {
    if (this.options.partitioned === true && !this.reads.isOwned(partition)) return;
    this.track(key, partition);
    this.written.set(key, null);
    this.writtenAt.set(key, Date.now());
    this.options.onChange?.(key, undefined, partition);
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
      const partition = this.partitionOf.get(key) ?? -1;
      this.values.delete(key);
      this.written.delete(key);
      this.writtenAt.delete(key);
      this.untrack(key);
      this.options.onChange?.(key, undefined, partition);
      evicted += 1;
    }
    return evicted;
  }

  /**
   * Drops this process's own writes, for when another process may write the same keys (after a rebalance);
   * follow it with {@link catchUp}, which reads past them.
   */
  forgetWritten(): void {
    for (const key of this.written.keys()) if (!this.values.has(key)) this.untrack(key);
    this.written.clear();
  }

  /** Every key's latest value, as {@link get} sees it. */
  *entries(): IterableIterator<[string, T]> {
    for (const [key, value] of this.values) if (!this.written.has(key)) yield [key, value];
    for (const [key, value] of this.written) if (value !== null) yield [key, value];
  }

  /** The last load of each partition owned, for metrics (a partitioned table). */
  loadStats(): ReadonlyMap<number, PartitionLoad> {
    return new Map(this.loads);
  }

  /** Stops following the topic. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer?.disconnect();
  }
}
