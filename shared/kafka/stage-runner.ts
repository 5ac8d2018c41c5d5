import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from "kafkajs";
import { context, SpanKind, SpanStatusCode, trace, type Tracer } from "@opentelemetry/api";
import type { AvroCodec } from "../schemas/codec.ts";
import { extractTraceContext } from "../telemetry/propagation.ts";
import type { Logger } from "../telemetry/logger.ts";
import { BatonError, toBatonError } from "../errors.ts";
import { retryTopicName } from "../topics.ts";
import { headersToText, type TextHeaders } from "./headers.ts";
import { attemptOf, dueAt, isRetryTopic, originTopic, routeFailure } from "./retry-routing.ts";
import { messagingAttributes } from "./messaging-attributes.ts";
import type { BatonProducer, OutgoingMessage, PreparedMessage, RawOutgoingMessage } from "./producer.ts";
import type { StageMetrics } from "../telemetry/metrics.ts";

/** A consumed message after decoding, as stage logic sees it. */
export interface ReceivedMessage<T> {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: T;
  headers: TextHeaders;
  /** Epoch milliseconds the message was produced. */
  timestamp: number;
  /** 1 on the first delivery, n on the (n-1)th retry. */
  attempt: number;
}

/** A consumed Kafka message as a {@link ReceivedMessage} with its decoded value: key and headers as text. */
export function toReceived<T>(topic: string, partition: number, message: KafkaMessage, value: T): ReceivedMessage<T> {
  const headers = headersToText(message.headers);
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key === null ? null : message.key.toString("utf8"),
    value,
    headers,
    timestamp: Number(message.timestamp),
    attempt: attemptOf(headers),
  };
}

/** What stage logic asks the runner to do with one message. */
export interface StageOutcome {
  /** Messages to produce before the input's offset is committed. */
  messages: OutgoingMessage[];
  /** Messages whose values are already bytes, or null (tombstones on compacted topics). */
  rawMessages?: RawOutgoingMessage[];
  /** Runs once the messages are sent and the input committed (to make in-memory state follow Kafka's). */
  afterCommit?: () => void;
}

/** A stage's logic: a decoded message in, outcomes out; it never touches Kafka. */
export type StageHandler<T> = (message: ReceivedMessage<T>) => Promise<StageOutcome>;

/** Options for {@link StageRunner}. */
export interface StageRunnerOptions<T> {
  /** The stage's name, in logs, spans and dead-letter headers. */
  stage: string;
  groupId: string;
  topics: string[];
  kafka: Kafka;
  codec: AvroCodec;
  producer: BatonProducer;
  tracer: Tracer;
  logger: Logger;
  handler: StageHandler<T>;
  /** Where a group with no committed offset starts; Baton stages start at the beginning so nothing is missed. */
  fromBeginning?: boolean;
  /** How many partitions are processed at once (messages of one partition stay in order). */
  partitionsConsumedConcurrently?: number;
  /**
   * How long the group waits for a silent member before moving its partitions (kafkajs heartbeats between
   * messages, so a handler must finish well within it).
   */
  sessionTimeoutMs?: number;
  /**
   * Retry ladder of each input topic (`baton.requests` -> [1000, 10000, 60000]): a retriable failure goes to
   * `<topic>.retry.<delay>` for each rung in turn, then to `<topic>.dlq`. The runner consumes the retry topics
   * too, each message when its delay has passed. A BatonError may carry `details.retryDelaysMs` (rungs of the
   * same ladder) to retry differently, as per-tool settings do.
   */
  retryDelaysMs?: ReadonlyMap<string, readonly number[]>;
  /**
   * Makes a producer with a transactionalId; given, each chunk's messages and its offset commit become visible
   * together (Kafka transactions with sendOffsets). The runner keeps one per input partition number, with the id
   * `<groupId>-p<partition>`, so the next owner of a partition fences a crashed one and aborts its open
   * transaction at once.
   */
  transactionalProducer?: (transactionalId: string) => Promise<BatonProducer>;
  /** Most messages of one partition handled before their output is sent and their offset committed. */
  maxBatchSize?: number;
  /**
   * Handle the messages of a chunk concurrently rather than in order: for stages whose messages are
   * independent of each other (the executor's tool calls).
   */
  concurrentWithinPartition?: boolean;
  /** Where the runner counts messages, latency, retries, dead letters and lag. */
  metrics?: StageMetrics;
  /** Called when a chunk of a partition failed before its commit: state kept for it must be dropped. */
  onChunkAborted?: (topic: string, partition: number) => void;
  /** Called after each rebalance that gave this instance its partitions. */
  onAssigned?: () => void;
}

/**
 * Runs a stage: consume in a group, restore trace context, decode, call the logic, produce its messages,
 * then commit the input's offset (per chunk of a fetched batch, so one produce request and one commit
 * serve many messages). A message that cannot be decoded, or whose logic fails, goes to the
 * topic's dead-letter topic with the raw bytes and the reason, and the partition keeps flowing.
 */
export class StageRunner<T> {
  private readonly options: StageRunnerOptions<T>;
  private readonly consumer: Consumer;
  private readonly assigned = new Map<string, number[]>();
  private readonly heartbeatIntervalMs: number;
  private readonly transactional = new Map<number, Promise<Pool<BatonProducer>>>();
  private running = false;

  constructor(options: StageRunnerOptions<T>) {
    this.options = options;
    this.heartbeatIntervalMs = Math.min(3_000, Math.floor((options.sessionTimeoutMs ?? 30_000) / 10));
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: this.heartbeatIntervalMs,
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      this.assigned.clear();
      for (const [topic, partitions] of Object.entries(event.payload.memberAssignment)) {
        this.assigned.set(topic, partitions);
      }
      options.logger.info({ stage: options.stage, assignment: event.payload.memberAssignment }, "partitions assigned");
      options.onAssigned?.();
    });
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      options.metrics?.consumerLag.set(
        { topic: payload.topic, partition: String(payload.partition) },
        Number(payload.offsetLag),
      );
    });
  }

  /** Ready: consuming, with partitions assigned (what /readyz reports). */
  get ready(): boolean {
    return this.running && [...this.assigned.values()].some((partitions) => partitions.length > 0);
  }

  /** Partitions this instance currently owns, by topic. */
  get assignment(): ReadonlyMap<string, number[]> {
    return this.assigned;
  }

  /** Connects, subscribes and starts consuming; resolves once the consumer is running. */
  async start(): Promise<void> {
    try {
      await this.consumer.connect();
      const retryTopics = this.options.topics.flatMap((topic) =>
        (this.options.retryDelaysMs?.get(topic) ?? []).map((delay) => retryTopicName(topic, delay)),
      );
      await this.consumer.subscribe({
        topics: [...this.options.topics, ...new Set(retryTopics)],
        fromBeginning: this.options.fromBeginning ?? true,
      });
    } catch (error) {
      throw new BatonError("KAFKA_UNAVAILABLE", `consumer cannot start: ${(error as Error).message}`, { cause: error });
    }
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachBatch: (payload) => this.processBatch(payload),
    });
    this.running = true;
  }

  /** Stops consuming after the message in flight is done and committed, then leaves the group. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.consumer.disconnect();
    await this.closeTransactional();
  }

  /**
   * Processes a fetched batch of one partition in chunks: each message's logic runs in its own span (in order,
   * or concurrently when the stage allows), their messages go out in one produce request, then the chunk's
   * last offset is committed. A crash before the commit replays the chunk (at least once).
   */
  private async processBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const chunkSize = this.options.maxBatchSize ?? 200;
    for (let start = 0; start < batch.messages.length; start += chunkSize) {
      if (!payload.isRunning() || payload.isStale()) return;
      let chunk = batch.messages.slice(start, start + chunkSize);
      const notDue = isRetryTopic(batch.topic)
        ? chunk.findIndex((message) => dueAt(headersToText(message.headers)) > Date.now())
        : -1;
      const waitFor = notDue >= 0 ? chunk[notDue] : undefined;
      if (waitFor !== undefined) chunk = chunk.slice(0, notDue);
      // kafkajs heartbeats only between batches: keep the membership alive while slow logic (a tool call) runs.
      const heartbeats = setInterval(() => {
        payload.heartbeat().catch(() => undefined);
      }, this.heartbeatIntervalMs);
      let handled: Handled[];
      try {
        handled =
          this.options.concurrentWithinPartition === true
            ? await Promise.all(chunk.map((message) => this.process(batch.topic, batch.partition, message)))
            : await sequentially(chunk, (message) => this.process(batch.topic, batch.partition, message));
      } finally {
        clearInterval(heartbeats);
      }
      const prepared = handled.flatMap((result) => result.prepared);
      const last = chunk.at(-1);
      const next =
        last === undefined
          ? []
          : [{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }];
      try {
        const pool = await this.transactionalPool(batch.partition);
        if (pool !== undefined) {
          const transactional = await pool.acquire();
          try {
            await transactional.transaction(async (transaction) => {
              await transaction.sendPrepared(prepared);
              if (next.length > 0)
                await transaction.commitOffsets({ consumerGroupId: this.options.groupId, offsets: next });
            });
          } finally {
            pool.release(transactional);
          }
        } else {
          await this.options.producer.sendPrepared(prepared);
          if (next.length > 0) await this.consumer.commitOffsets(next);
        }
      } catch (error) {
        for (const result of handled) result.finish(error);
        this.options.onChunkAborted?.(batch.topic, batch.partition);
        throw error;
      }
      if (last !== undefined) payload.resolveOffset(last.offset);
      for (const { topic } of prepared) this.options.metrics?.messagesOut.inc({ topic });
      for (const result of handled) result.afterCommit?.();
      for (const result of handled) result.finish(undefined);
      await payload.heartbeat();
      if (waitFor !== undefined) {
        this.waitUntilDue(batch.topic, batch.partition, waitFor);
        return;
      }
    }
  }

  /** The transactional producer of an input partition number (one transaction at a time), made on first use. */
  private transactionalPool(partition: number): Promise<Pool<BatonProducer>> | undefined {
    const create = this.options.transactionalProducer;
    if (create === undefined) return undefined;
    let pool = this.transactional.get(partition);
    if (pool === undefined) {
      pool = create(`${this.options.groupId}-p${partition}`).then((producer) => new Pool([producer]));
      pool.catch(() => this.transactional.delete(partition));
      this.transactional.set(partition, pool);
    }
    return pool;
  }

  /** Closes the transactional producers. */
  private async closeTransactional(): Promise<void> {
    const pools = await Promise.allSettled(this.transactional.values());
    this.transactional.clear();
    for (const pool of pools) if (pool.status === "fulfilled") await (await pool.value.acquire()).disconnect();
  }

  /** Pauses a retry partition until its next message is due; the other partitions keep flowing. */
  private waitUntilDue(topic: string, partition: number, message: KafkaMessage): void {
    const wait = Math.max(0, dueAt(headersToText(message.headers)) - Date.now());
    this.consumer.pause([{ topic, partitions: [partition] }]);
    this.consumer.seek({ topic, partition, offset: message.offset });
    const timer = setTimeout(() => this.consumer.resume([{ topic, partitions: [partition] }]), wait);
    timer.unref();
  }

  private async process(topic: string, partition: number, message: KafkaMessage): Promise<Handled> {
    const { stage, groupId, tracer, logger, codec, handler, producer } = this.options;
    const headers = headersToText(message.headers);
    const key = message.key === null ? null : message.key.toString("utf8");
    const parent = extractTraceContext(headers);
    const span = tracer.startSpan(
      `process ${topic}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          ...messagingAttributes({
            operation: "process",
            topic,
            partition,
            offset: message.offset,
            key,
            consumerGroup: groupId,
          }),
          "baton.stage": stage,
        },
      },
      parent,
    );
    const metrics = this.options.metrics;
    metrics?.messagesIn.inc({ topic: originTopic(topic) });
    const stopTimer = metrics?.processingSeconds.startTimer({ topic: originTopic(topic) });
    const finish = (error: unknown): void => {
      if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      span.end();
    };
    return context.with(trace.setSpan(parent, span), async (): Promise<Handled> => {
      try {
        const { value } = await codec.decode<T>(message.value);
        const outcome = await handler(toReceived(originTopic(topic), partition, message, value));
        const prepared = await producer.prepareAll(outcome.messages, outcome.rawMessages ?? []);
        stopTimer?.();
        return { prepared, finish, afterCommit: outcome.afterCommit };
      } catch (thrown) {
        const error = toBatonError(thrown);
        if (error.code === "KAFKA_UNAVAILABLE") {
          finish(error);
          throw error;
        }
        span.recordException(error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        const override = error.details.retryDelaysMs;
        const route = routeFailure({
          error,
          stage,
          topic,
          partition,
          offset: message.offset,
          headers,
          delaysMs: Array.isArray(override)
            ? (override as number[])
            : (this.options.retryDelaysMs?.get(originTopic(topic)) ?? []),
          now: Date.now(),
        });
        span.setAttribute("baton.failure.route", route.kind);
        (route.kind === "retry" ? metrics?.retries : metrics?.deadLetters)?.inc({ topic: originTopic(topic) });
        logger.warn(
          {
            stage,
            topic,
            partition,
            offset: message.offset,
            code: error.code,
            attempt: attemptOf(headers),
            to: route.topic,
            err: error,
          },
          route.kind === "retry" ? "retrying message later" : "dead-lettering message",
        );
        const deadLetter = await producer.prepareAll(
          [],
          [{ topic: route.topic, key, value: message.value, headers: route.headers }],
        );
        return { prepared: deadLetter, finish };
      }
    });
  }
}

/** What processing one message left to do: its prepared messages, and ending its span once they are sent. */
interface Handled {
  prepared: PreparedMessage[];
  finish: (error: unknown) => void;
  afterCommit?: (() => void) | undefined;
}

async function sequentially<Item, Result>(items: Item[], work: (item: Item) => Promise<Result>): Promise<Result[]> {
  const results: Result[] = [];
  for (const item of items) results.push(await work(item));
  return results;
}

/** Lends out a fixed set of items, one borrower at a time each (a transaction per producer at once). */
class Pool<Item> {
  private readonly free: Item[];
  private readonly waiting: Array<(item: Item) => void> = [];

  constructor(items: Item[]) {
    this.free = [...items];
  }

  acquire(): Promise<Item> {
    const item = this.free.pop();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(item: Item): void {
    const next = this.waiting.shift();
    if (next !== undefined) next(item);
    else this.free.push(item);
  }
}
