import type { Consumer, EachBatchPayload, Kafka } from "kafkajs";
import { BatonError } from "../errors.ts";
import type { Logger } from "../telemetry/logger.ts";
import { BatonAdmin } from "./admin.ts";
import { headersToText, type TextHeaders } from "./headers.ts";

/** A record of any topic as it was written: key and headers as text, the value as bytes (its format is the reader's). */
export interface RawRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: TextHeaders;
  /** Epoch milliseconds the record was produced. */
  timestamp: number;
}

/** Options for {@link GroupReader}. */
export interface GroupReaderOptions {
  kafka: Kafka;
  groupId: string;
  topics: readonly string[];
  logger: Logger;
  /**
   * Handles one record. It returns once the record is dealt with (an output acknowledged, or the record skipped);
   * a throw means "not yet": the same record is handled again after a delay, and nothing after it is read first.
   */
  handle(record: RawRecord): Promise<void>;
  /** First delay before handling a record again after a throw; doubles up to 30 s (1 s). */
  retryDelayMs?: number;
}

const maxRetryDelayMs = 30_000;

/**
 * Reads arbitrary topics (not Baton's own: no schema or key is assumed) in a consumer group, at least once: each
 * record goes to one member of the group, in order per partition, and a partition's offset is committed only past
 * records {@link GroupReaderOptions.handle} has finished. A group that has never read a topic starts at the end the
 * topic has when the first member starts: history written before is not read.
 */
export class GroupReader {
  private readonly options: GroupReaderOptions;
  private readonly consumer: Consumer;
  private running = false;

  constructor(options: GroupReaderOptions) {
    this.options = options;
    this.consumer = options.kafka.consumer({ groupId: options.groupId, allowAutoTopicCreation: false });
  }

  /** Joins the group; resolves once this member has its first assignment (records written after are read). */
  async start(): Promise<void> {
    const { kafka, topics } = this.options;
    const admin = await BatonAdmin.connect(kafka);
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((topic) => !existing.has(topic));
      if (missing.length > 0)
        throw new BatonError("CONFIG_INVALID", `topics ${missing.join(", ")} do not exist: create them first`, {
          details: { missing },
        });
      for (const topic of topics) await this.startAtEndIfNew(admin, topic);
    } finally {
      await admin.disconnect();
    }
    const joined = new Promise<void>((resolve) => this.consumer.on(this.consumer.events.GROUP_JOIN, () => resolve()));
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [...topics], fromBeginning: false });
    this.running = true;
    await this.consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (batch) => this.read(batch) });
    await joined;
  }

  /**
   * Commits the topic's current ends for partitions the group has no offset for, so "from now on" means from this
   * start, not from whenever the first fetch happens. Refused while the group has members: one of them did it.
   */
  private async startAtEndIfNew(admin: BatonAdmin, topic: string): Promise<void> {
    const committed = await admin.committedOffsets(this.options.groupId, topic);
    const ends = await admin.partitionOffsets(topic);
    const fresh = ends.filter(({ partition }) => (committed.get(partition) ?? null) === null);
    if (fresh.length === 0) return;
    await admin
      .commitGroupOffsets(
        this.options.groupId,
        topic,
        fresh.map(({ partition, end }) => ({ partition, offset: end })),
      )
      .catch((error: unknown) =>
        this.options.logger.debug({ err: error, topic }, "group already has members: they set its start"),
      );
  }

  private async read(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const heartbeat = (): Promise<void> => payload.heartbeat();
    const stillOwned = (): boolean => payload.isRunning() && !payload.isStale();
    let next: string | undefined;
    for (const message of batch.messages) {
      if (!stillOwned()) break;
      const record: RawRecord = {
        topic: batch.topic,
        partition: batch.partition,
        offset: message.offset,
        key: message.key === null ? null : message.key.toString("utf8"),
        value: message.value,
        headers: headersToText(message.headers),
        timestamp: Number(message.timestamp),
      };
      if (!(await this.handleUntilDone(record, heartbeat, stillOwned))) break;
      payload.resolveOffset(message.offset);
      next = (BigInt(message.offset) + 1n).toString();
      await heartbeat();
    }
    if (next === undefined) return;
    await this.consumer
      .commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }])
      .catch((error: unknown) =>
        // A rebalance took the partition away: its next owner reads from the last commit again (harmless: at least once).
        this.options.logger.warn({ err: error, topic: batch.topic, partition: batch.partition }, "commit failed"),
      );
  }

  /** Handles a record, again and again while it throws; false when the member stopped or lost the partition. */
  private async handleUntilDone(
    record: RawRecord,
    heartbeat: () => Promise<void>,
    stillOwned: () => boolean,
  ): Promise<boolean> {
    let delayMs = this.options.retryDelayMs ?? 1_000;
    for (;;) {
      try {
        await this.options.handle(record);
        return true;
      } catch (error) {
        this.options.logger.warn(
          { err: error, topic: record.topic, partition: record.partition, offset: record.offset, retryInMs: delayMs },
          "record not handled yet; trying again",
        );
      }
      const until = Date.now() + delayMs;
      while (Date.now() < until) {
        if (!this.running || !stillOwned()) return false;
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, until - Date.now())));
        await heartbeat().catch(() => undefined);
      }
      delayMs = Math.min(delayMs * 2, maxRetryDelayMs);
    }
  }

  /** Leaves the group after the record being handled; its partitions go to the other members. */
  async stop(): Promise<void> {
    this.running = false;
    await this.consumer.disconnect();
  }
}
