import { randomUUID } from "node:crypto";
import { ExponentialBackoff, handleWhen, retry } from "cockatiel";
import type { Consumer, Kafka } from "kafkajs";
import type { AvroCodec } from "../schemas/codec.ts";
import { BatonError } from "../errors.ts";
import { toReceived, type ReceivedMessage } from "./received-message.ts";

/** Kafka errors kafkajs marks retriable (a partition without a leader yet), asked again for up to about 10 s. */
const endsRetry = retry(
  handleWhen((error) => (error as { retriable?: unknown }).retriable === true),
  { maxAttempts: 10, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2_000 }) },
);

/**
 * Follows a topic from its current end, keeping the latest message of each key, and lets callers wait for
 * a key: how `baton submit --wait`, tests and benchmarks see responses without reading the whole topic.
 */
export class TopicWatcher<T> {
  private readonly kafka: Kafka;
  private readonly codec: AvroCodec;
  private readonly topic: string;
  private readonly consumer: Consumer;
  private readonly seen = new Map<string, ReceivedMessage<T>>();
  private readonly offsets = new Map<string, Set<string>>();
  private readonly waiting = new Map<string, Array<(message: ReceivedMessage<T>) => void>>();
  private readonly keepAll: boolean;
  private readonly all: Array<ReceivedMessage<T>> = [];
  private readonly kept = new Set<string>();
  /** Each listener, with the one key it wants (undefined: every key). */
  private readonly listeners = new Map<(message: ReceivedMessage<T>) => void, string | undefined>();
  private readonly remember: boolean;
  private running = false;

  /**
   * `keepAll` keeps every message (not only each key's latest), for {@link matching}; `remember: false` keeps
   * nothing (a long-running follower that only tells its {@link listen}ers).
   */
  constructor(options: {
    kafka: Kafka;
    codec: AvroCodec;
    topic: string;
    keepAll?: boolean;
    remember?: boolean;
    /**
     * How long the broker may hold a fetch to gather more (up to 64 KiB) before answering: a busy topic then comes
     * in fewer, fuller fetches, at that much latency. Default 0: every message as soon as it is there.
     */
    gatherMs?: number;
  }) {
    this.kafka = options.kafka;
    this.codec = options.codec;
    this.topic = options.topic;
    this.keepAll = options.keepAll ?? false;
    this.remember = options.remember ?? true;
    this.consumer = options.kafka.consumer({
      groupId: `baton-watcher-${randomUUID()}`,
      allowAutoTopicCreation: false,
      ...(options.gatherMs === undefined || options.gatherMs <= 0
        ? {}
        : { minBytes: 65_536, maxWaitTimeInMs: options.gatherMs }),
    });
  }

  /** Starts at the topic's current end: everything written after this resolves is seen. */
  async start(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    // A topic created a moment ago may have no partition leader yet (NOT_LEADER_FOR_PARTITION): ask again.
    const ends = await endsRetry.execute(() => admin.fetchTopicOffsets(this.topic)).finally(() => admin.disconnect());
    // Where to read from next per partition: the topic's end at the start, then past each message seen. Set again
    // at every join, so a consumer that kafkajs restarts (a coordinator still loading, a broker restart) goes on
    // from there rather than from the end.
    const next = new Map(ends.map(({ partition, high }) => [partition, high]));
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [this.topic], fromBeginning: false });
    const joined = new Promise<void>((resolve) =>
      this.consumer.on(this.consumer.events.GROUP_JOIN, () => {
        for (const [partition, offset] of next) this.consumer.seek({ topic: this.topic, partition, offset });
        resolve();
      }),
    );
    const run: Parameters<Consumer["run"]>[0] = {
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        next.set(partition, (BigInt(message.offset) + 1n).toString());
        const key = message.key?.toString("utf8");
        if (key === undefined) return;
        // A follower that keeps nothing decodes only what a listener wants: the gateway's feed of baton.events
        // holds about ten events a request, nearly all for requests nobody follows.
        if (!this.remember && !this.wanted(key)) return;
        // A value that cannot be decoded (a dead letter's raw bytes) is kept as null rather than stalling the watcher.
        const value = await this.codec.decode<T>(message.value).then(
          (decoded) => decoded.value,
          () => null as T,
        );
        const received: ReceivedMessage<T> = toReceived(topic, partition, message, value);
        for (const [listener, wants] of this.listeners) if (wants === undefined || wants === key) listener(received);
        if (!this.remember) return;
        this.seen.set(key, received);
        // Counted by position, so a message delivered again after a consumer restart is not a duplicate.
        const positions = this.offsets.get(key) ?? new Set<string>();
        positions.add(`${partition}/${message.offset}`);
        this.offsets.set(key, positions);
        const position = `${partition}/${message.offset}`;
        if (this.keepAll && !this.kept.has(position)) {
          this.kept.add(position);
          this.all.push(received);
        }
        for (const resolve of this.waiting.get(key) ?? []) resolve(received);
        this.waiting.delete(key);
      },
    };
    // kafkajs restarts a crashed consumer only for errors it calls retriable; after a broker restart it may give
    // up ("failed to find group coordinator", retries exhausted): run it again, from where it was.
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.runAgain(run, 1_000);
    });
    this.running = true;
    await this.consumer.run(run);
    await joined;
  }

  /**
   * Tells `listener` of every message from now on (only those with `key`, when given), in the order of each
   * partition; returns how to stop.
   */
  listen(listener: (message: ReceivedMessage<T>) => void, key?: string): () => void {
    this.listeners.set(listener, key);
    return () => this.listeners.delete(listener);
  }

  private wanted(key: string): boolean {
    for (const wants of this.listeners.values()) if (wants === undefined || wants === key) return true;
    return false;
  }

  /** The message for a key, once it arrives; fails with TIMEOUT after `timeoutMs`. */
  waitFor(key: string, timeoutMs: number): Promise<ReceivedMessage<T>> {
    const known = this.seen.get(key);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new BatonError("TIMEOUT", `no message for ${key} on ${this.topic} within ${timeoutMs} ms`));
      }, timeoutMs);
      const list = this.waiting.get(key) ?? [];
      list.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
      this.waiting.set(key, list);
    });
  }

  /** How many messages with this key arrived since the watcher started (duplicates show as more than one). */
  count(key: string): number {
    return this.offsets.get(key)?.size ?? 0;
  }

  /** Every message whose key passes `test`, in the order they arrived (with `keepAll`). */
  matching(test: (key: string) => boolean): Array<ReceivedMessage<T>> {
    return this.all.filter((message) => message.key !== null && test(message.key));
  }

  /** The latest message of a key, if one arrived. */
  latest(key: string): ReceivedMessage<T> | undefined {
    return this.seen.get(key);
  }

  private runAgain(run: Parameters<Consumer["run"]>[0], delayMs: number): void {
    setTimeout(() => {
      if (!this.running) return;
      this.consumer
        .connect()
        .then(() => this.consumer.run(run))
        .catch(() => this.runAgain(run, Math.min(delayMs * 2, 30_000)));
    }, delayMs).unref();
  }

  /** Stops following. */
  async stop(): Promise<void> {
    this.running = false;
    await this.consumer.disconnect();
  }
}
