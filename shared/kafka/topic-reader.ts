import { randomUUID } from "node:crypto";
import type { Kafka } from "kafkajs";
import type { AvroCodec } from "../schemas/codec.ts";
import { BatonError } from "../errors.ts";
import { BatonAdmin } from "./admin.ts";
import { BoundedReads, type PartitionRange, type UnfinishedRange } from "./bounded-reads.ts";
import { toReceived, type ReceivedMessage } from "./received-message.ts";

/** A consumed message whose value is decoded when it can be, with the raw bytes kept. */
export interface ReadMessage extends ReceivedMessage<unknown> {
  raw: Buffer | null;
  /** Why the value could not be decoded, when it could not. */
  decodeError?: string;
}

/** Options for {@link readTopic}. */
export interface ReadTopicOptions {
  kafka: Kafka;
  codec: AvroCodec;
  topic: string;
  /** Stop as soon as this returns true for the messages read so far. */
  until: (messages: ReadMessage[]) => boolean;
  timeoutMs: number;
  /** Read from the start of the topic (default) or only what arrives from now on. */
  fromBeginning?: boolean;
}

/**
 * Reads a topic with a throwaway consumer group until a condition holds or the time runs out; for tests waiting
 * for messages to arrive. Returns what was read. To read what a topic holds, use {@link readToEnd}.
 */
export async function readTopic(options: ReadTopicOptions): Promise<ReadMessage[]> {
  const consumer = options.kafka.consumer({ groupId: `baton-reader-${randomUUID()}`, allowAutoTopicCreation: false });
  const messages: ReadMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [options.topic], fromBeginning: options.fromBeginning ?? true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, options.timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ topic, partition, message }) => {
            const base = { ...toReceived(topic, partition, message, null), raw: message.value };
            try {
              const { value } = await options.codec.decode<unknown>(message.value);
              messages.push({ ...base, value });
            } catch (error) {
              messages.push({ ...base, value: null, decodeError: (error as Error).message });
            }
            if (options.until(messages)) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

/** A topic to read whole, or only the partitions named. */
export interface TopicSelection {
  topic: string;
  partitions?: readonly number[];
  /** Starts each partition read at this offset, when it is past the start `since` or the beginning gives. */
  fromOffset?: bigint;
}

/** Options for {@link readToEnd}. */
export interface ReadToEndOptions {
  kafka: Kafka;
  codec: AvroCodec;
  topics: ReadonlyArray<string | TopicSelection>;
  /** How long the read may take before it returns what it has, naming the ranges it did not finish (30 s). */
  timeoutMs?: number;
  /**
   * Starts each partition at its first message written at or after this time (epoch ms), rather than at its
   * beginning: messages are appended in time order, give or take the producers' clocks.
   */
  since?: number;
  /** Keeps (and decodes) only the messages whose key passes; all by default. */
  keys?: (key: string | null) => boolean;
}

/** What {@link readToEnd} read. */
export interface ReadToEndResult {
  /** In the order read: by offset within a partition, interleaved across partitions. */
  messages: ReadMessage[];
  /** Ranges not read to their end in time (a broker that stopped answering); empty when the read is complete. */
  unfinished: UnfinishedRange[];
  /** Topics asked for that the cluster does not have. */
  missing: string[];
}

/**
 * Reads topics (every partition, or those named) from their beginning up to the end offsets they had when the
 * read began, then stops: what a command shows is everything written before it started, however busy the cluster,
 * and it returns as soon as that is read (at once for empty partitions). The ends are read-committed: a read is
 * never held up by a transaction left open. For the CLI (history, status, dead letters, approvals) and tests.
 */
export async function readToEnd(options: ReadToEndOptions): Promise<ReadToEndResult> {
  const { kafka, codec } = options;
  const selections = options.topics.map((entry) => (typeof entry === "string" ? { topic: entry } : entry));
  const ranges: PartitionRange[] = [];
  const missing: string[] = [];
  const admin = await BatonAdmin.connect(kafka);
  try {
    const existing = new Set(await admin.listTopics());
    missing.push(...selections.filter((selection) => !existing.has(selection.topic)).map(({ topic }) => topic));
    const present = selections.filter((selection) => existing.has(selection.topic));
    const { since } = options;
    const offsets = await Promise.all(
      present.map(async ({ topic }) => ({
        ends: await admin.partitionOffsets(topic),
        starts: since === undefined ? undefined : await admin.offsetsAtTime(topic, since),
      })),
    );
    present.forEach((selection, index) => {
      const wanted = selection.partitions === undefined ? undefined : new Set(selection.partitions);
      const { ends = [], starts } = offsets[index] ?? {};
      for (const { partition, low, end } of ends) {
        const timed = starts?.get(partition) ?? low;
        const start = selection.fromOffset !== undefined && selection.fromOffset > timed ? selection.fromOffset : timed;
        if (wanted === undefined || wanted.has(partition))
          ranges.push({ topic: selection.topic, partition, from: start > end ? end : start > low ? start : low, end });
      }
    });
  } catch (error) {
    throw new BatonError("KAFKA_UNAVAILABLE", `cannot fetch the topics' offsets: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    await admin.disconnect();
  }
  const bounded = new BoundedReads(ranges);
  const messages: ReadMessage[] = [];
  if (bounded.done()) return { messages, unfinished: [], missing };

  const consumer = kafka.consumer({
    groupId: `baton-reader-${randomUUID()}`,
    allowAutoTopicCreation: false,
    // A partition resumed after a join is fetched with the next fetch: wait little for data of the others.
    maxWaitTimeInMs: 500,
    retry: { retries: 5, restartOnFailure: () => Promise.resolve(false) },
  });
  const topics = bounded.pendingTopics();
  let finish: (() => void) | undefined;
  let fail: ((error: Error) => void) | undefined;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  /** Finishes when every range is read; stops fetching a partition read to its end (the cluster writes on). */
  const check = (topic: string, partition: number): void => {
    if (bounded.done()) finish?.();
    else if (bounded.isDone(topic, partition)) consumer.pause([{ topic, partitions: [partition] }]);
  };
  /** Reads only the ranges still pending, each from where it stands. */
  const steer = (positions: Array<PartitionRange & { position: bigint }>): void => {
    consumer.pause(topics.map((topic) => ({ topic })));
    for (const range of positions) {
      consumer.seek({ topic: range.topic, partition: range.partition, offset: range.position.toString() });
      consumer.resume([{ topic: range.topic, partitions: [range.partition] }]);
    }
  };
  const { events } = consumer;
  consumer.on(events.FETCH_START, ({ payload }) => bounded.fetchStarted(payload.nodeId));
  consumer.on(events.START_BATCH_PROCESS, ({ payload }) => bounded.batchStarted(payload.topic, payload.partition));
  consumer.on(events.END_BATCH_PROCESS, ({ payload }) => {
    bounded.batchEnded(payload.topic, payload.partition, {
      batchSize: payload.batchSize,
      firstOffset: typeof payload.firstOffset === "string" ? payload.firstOffset : null,
      lastOffset: typeof payload.lastOffset === "string" ? payload.lastOffset : null,
    });
    check(payload.topic, payload.partition);
  });
  // Runs before the first fetch of every join, which forgets pauses and positions.
  consumer.on(events.GROUP_JOIN, () => steer(bounded.rejoined()));
  consumer.on(events.CRASH, ({ payload }) =>
    fail?.(new BatonError("KAFKA_UNAVAILABLE", `reading stopped: ${payload.error.message}`, { cause: payload.error })),
  );
  const timer = setTimeout(() => finish?.(), options.timeoutMs ?? 30_000);
  try {
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const kept = options.keys?.(message.key === null ? null : message.key.toString("utf8")) ?? true;
        let read: ReadMessage | undefined;
        if (kept) {
          const base = { ...toReceived(topic, partition, message, null), raw: message.value };
          try {
            // A tombstone has no value to decode.
            const value = message.value === null ? null : (await codec.decode<unknown>(message.value)).value;
            read = { ...base, value };
          } catch (error) {
            read = { ...base, value: null, decodeError: (error as Error).message };
          }
        }
        if (!bounded.messageRead(topic, partition, message.offset)) return;
        if (read !== undefined) messages.push(read);
        check(topic, partition);
      },
    });
    await finished;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return { messages, unfinished: bounded.unfinished(), missing };
}
