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
import { withLogContext } from "../telemetry/log-context.ts";
import { coPartitionedAssigner } from "./co-partitioned-assigner.ts";
import { PartitionWindow } from "./partition-window.ts";

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
   * Handle a partition's messages concurrently, off the poll loop, up to this many at once: for stages whose
   * messages are independent of each other and may take minutes (the executor's tool calls). Each message's
   * output is published as soon as it is done; the committed offset never passes the oldest message still
   * running; a partition whose bound is full is paused until calls finish. Without it, a partition's messages
   * are handled in order, a chunk at a time.
   */
  maxInFlightPerPartition?: number;
  /** How long `stop` waits for messages in flight to finish and be published before giving them up. */
  drainTimeoutMs?: number;
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
  private readonly lanes = new Map<number, Promise<Pool<Lane>>>();
  private readonly windows = new Map<string, PartitionWindow<Handled>>();
  private running = false;

  constructor(options: StageRunnerOptions<T>) {
    this.options = options;
    this.heartbeatIntervalMs = Math.min(3_000, Math.floor((options.sessionTimeoutMs ?? 30_000) / 10));
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: this.heartbeatIntervalMs,
      partitionAssigners: [coPartitionedAssigner],
      // kafkajs fetches a resumed partition (a retry come due, a window with room) only with its next fetch, so
      // this bounds how long it waits: well under a retry's delay; short for windows, which pause and resume
      // all the time under load (docs/decisions/005).
      maxWaitTimeInMs: options.maxInFlightPerPartition === undefined ? 500 : 50,
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      this.assigned.clear();
      for (const [topic, partitions] of Object.entries(event.payload.memberAssignment)) {
        this.assigned.set(topic, partitions);
      }
      for (const window of this.windows.values()) {
        if (!(this.assigned.get(window.topic) ?? []).includes(window.partition))
          this.abandonWindow(window, new Error("partition moved to another member"), { seek: false });
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
      eachBatch: (payload) =>
        this.options.maxInFlightPerPartition === undefined
          ? this.processBatch(payload)
          : this.processWindowed(payload, this.options.maxInFlightPerPartition),
    });
    this.running = true;
  }

  /**
   * Stops taking messages, lets those in flight finish and commit (up to `drainTimeoutMs`; what is left is
   * redelivered to the partition's next owner), then leaves the group.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.windows.size > 0) {
      this.flow("pause", () =>
        this.consumer.pause([...this.assigned].map(([topic, partitions]) => ({ topic, partitions }))),
      );
      const until = Date.now() + (this.options.drainTimeoutMs ?? 30_000);
      const busy = (): boolean => [...this.windows.values()].some((window) => !window.idle || window.flushing);
      while (busy() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
      if (busy()) this.options.logger.warn({ stage: this.options.stage }, "stopping with calls still in flight");
    }
    await this.consumer.disconnect();
    await this.closeLanes();
  }

  /**
   * Processes a fetched batch of one partition in chunks, holding the partition number's lane so the
   * co-partitioned messages of one request (its request, results, deadline) are handled one chunk at a time:
   * each message's logic runs in its own span, in order; their messages go out in one produce request with
   * the chunk's offset commit. A crash before the commit replays the chunk (at least once; exactly once with
   * transactions).
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
      await this.withLane(batch.partition, async (lane) => {
        // kafkajs heartbeats only between batches: keep the membership alive while slow logic (an LLM call) runs.
        const heartbeats = setInterval(() => {
          payload.heartbeat().catch(() => undefined);
        }, this.heartbeatIntervalMs);
        let handled: Handled[];
        try {
          handled = await sequentially(chunk, (message) => this.process(batch.topic, batch.partition, message));
        } finally {
          clearInterval(heartbeats);
        }
        const last = chunk.at(-1);
        const next = last === undefined ? undefined : (BigInt(last.offset) + 1n).toString();
        try {
          await this.publish(lane, batch.topic, batch.partition, handled, next);
        } catch (error) {
          for (const result of handled) result.finish(error);
          this.options.onChunkAborted?.(batch.topic, batch.partition);
          throw error;
        }
        if (last !== undefined) payload.resolveOffset(last.offset);
        this.published(handled);
      });
      await payload.heartbeat();
      if (waitFor !== undefined) {
        this.waitUntilDue(batch.topic, batch.partition, waitFor);
        return;
      }
    }
  }

  /**
   * Starts each message of a batch off the poll loop, up to `bound` unfinished per partition, and returns at
   * once so the consumer keeps polling and heartbeating however long the calls take. A message's output is
   * published when it is done (see {@link flushWindow}); a full window pauses the partition until calls end.
   */
  private async processWindowed(payload: EachBatchPayload, bound: number): Promise<void> {
    const { batch } = payload;
    const id = windowKey(batch.topic, batch.partition);
    let window = this.windows.get(id);
    if (window === undefined) {
      window = new PartitionWindow<Handled>(batch.topic, batch.partition, bound);
      this.windows.set(id, window);
    }
    const current = window;
    for (const message of batch.messages) {
      if (!this.running || !payload.isRunning() || payload.isStale()) break;
      if (current.has(message.offset)) {
        payload.resolveOffset(message.offset);
        continue;
      }
      if (isRetryTopic(batch.topic) && dueAt(headersToText(message.headers)) > Date.now()) {
        this.waitUntilDue(batch.topic, batch.partition, message);
        break;
      }
      if (current.full) {
        current.pausedWhenFull = true;
        this.flow("pause", () => this.consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]));
        break;
      }
      current.start(message.offset);
      payload.resolveOffset(message.offset);
      this.process(batch.topic, batch.partition, message).then(
        (handled) => {
          if (current.finish(message.offset, handled)) this.flushWindow(current);
          else handled.finish(new Error("the partition's uncommitted work was given up; it is redelivered"));
        },
        (error: unknown) => this.abandonWindow(current, error, { seek: true }),
      );
    }
    await payload.heartbeat();
  }

  /** Publishes a window's done messages with the offset below its oldest running one, one publish at a time. */
  private flushWindow(window: PartitionWindow<Handled>): void {
    if (window.flushing) return;
    window.flushing = true;
    void (async () => {
      let results: Handled[] = [];
      try {
        while (!window.abandoned) {
          const ready = window.takeReady();
          results = ready.results;
          if (results.length === 0 && ready.commitOffset === undefined) break;
          await this.withLane(window.partition, (lane) =>
            this.publish(lane, window.topic, window.partition, results, ready.commitOffset),
          );
          this.published(results);
          results = [];
          if (window.pausedWhenFull && !window.full && this.running) {
            window.pausedWhenFull = false;
            this.flow("resume", () => this.consumer.resume([{ topic: window.topic, partitions: [window.partition] }]));
          }
        }
      } catch (error) {
        for (const result of results) result.finish(error);
        this.abandonWindow(window, error, { seek: true });
      } finally {
        window.flushing = false;
      }
    })();
  }

  /**
   * Gives up a window's uncommitted work after a failed publish or a lost partition: late results are dropped
   * and, while the partition is still ours, consumption restarts at its last commit, so nothing is lost (a
   * call still running is joined again by the stage, not started twice).
   */
  private abandonWindow(window: PartitionWindow<Handled>, error: unknown, options: { seek: boolean }): void {
    if (window.abandoned) return;
    window.abandoned = true;
    const id = windowKey(window.topic, window.partition);
    if (this.windows.get(id) === window) this.windows.delete(id);
    this.options.onChunkAborted?.(window.topic, window.partition);
    this.options.logger.warn(
      { stage: this.options.stage, topic: window.topic, partition: window.partition, err: error },
      "giving up the partition's uncommitted messages; they are redelivered",
    );
    const restart = window.restartOffset;
    if (options.seek && this.running && restart !== undefined) {
      this.flow("rewind", () =>
        this.consumer.seek({ topic: window.topic, partition: window.partition, offset: restart }),
      );
    }
    if (window.pausedWhenFull && this.running)
      this.flow("resume", () => this.consumer.resume([{ topic: window.topic, partitions: [window.partition] }]));
  }

  /**
   * Sends handled messages' output and commits `nextOffset` (if given) for the input partition: in one
   * transaction with the lane's transactional producer, or produce then commit without one.
   */
  private async publish(
    lane: Lane,
    topic: string,
    partition: number,
    handled: Handled[],
    nextOffset: string | undefined,
  ): Promise<void> {
    const prepared = handled.flatMap((result) => result.prepared);
    const offsets = nextOffset === undefined ? [] : [{ topic, partition, offset: nextOffset }];
    if (lane.producer !== undefined) {
      await lane.producer.transaction(async (transaction) => {
        await transaction.sendPrepared(prepared);
        if (offsets.length > 0) await transaction.commitOffsets({ consumerGroupId: this.options.groupId, offsets });
      });
    } else {
      await this.options.producer.sendPrepared(prepared);
      if (offsets.length > 0) await this.consumer.commitOffsets(offsets);
    }
    for (const { topic: to } of prepared) this.options.metrics?.messagesOut.inc({ topic: to });
  }

  /** After a publish: state follows Kafka's, spans end. */
  private published(handled: Handled[]): void {
    for (const result of handled) result.afterCommit?.();
    for (const result of handled) result.finish(undefined);
  }

  /**
   * Runs `work` holding the lane of an input partition number: one at a time per number, across the input
   * topics (co-partitioned, so one request's messages) and their retry topics. A transactional stage's lane
   * carries the producer with the id `<groupId>-p<partition>`, made on first use.
   */
  private async withLane<Result>(partition: number, work: (lane: Lane) => Promise<Result>): Promise<Result> {
    let pool = this.lanes.get(partition);
    if (pool === undefined) {
      const create = this.options.transactionalProducer;
      pool = (
        create === undefined
          ? Promise.resolve<Lane>({})
          : create(`${this.options.groupId}-p${partition}`).then((producer): Lane => ({ producer }))
      ).then((lane) => new Pool([lane]));
      pool.catch(() => this.lanes.delete(partition));
      this.lanes.set(partition, pool);
    }
    const lanes = await pool;
    const lane = await lanes.acquire();
    try {
      return await work(lane);
    } finally {
      lanes.release(lane);
    }
  }

  /** Closes the lanes' transactional producers. */
  private async closeLanes(): Promise<void> {
    const pools = await Promise.allSettled(this.lanes.values());
    this.lanes.clear();
    for (const pool of pools) {
      if (pool.status !== "fulfilled") continue;
      const lane = await pool.value.acquire();
      await lane.producer?.disconnect();
    }
  }

  /**
   * Pauses, resumes or seeks a partition. kafkajs refuses these while it restarts a crashed consumer (which
   * starts again from the committed offsets, unpaused); that is logged, not thrown from a timer.
   */
  private flow(action: string, change: () => void): void {
    try {
      change();
    } catch (error) {
      this.options.logger.warn({ stage: this.options.stage, action, err: error }, "consumer is restarting; skipped");
    }
  }

  /** Pauses a retry partition until its next message is due; the other partitions keep flowing. */
  private waitUntilDue(topic: string, partition: number, message: KafkaMessage): void {
    const wait = Math.max(0, dueAt(headersToText(message.headers)) - Date.now());
    this.flow("pause", () => {
      this.consumer.pause([{ topic, partitions: [partition] }]);
      this.consumer.seek({ topic, partition, offset: message.offset });
    });
    const timer = setTimeout(
      () => this.flow("resume", () => this.consumer.resume([{ topic, partitions: [partition] }])),
      wait,
    );
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
          "baton.attempt": attemptOf(headers),
          ...(key === null ? {} : { "baton.request_id": key.split("/")[0] ?? key }),
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
    const logFields = { stage, requestId: key?.split("/")[0], attempt: attemptOf(headers) };
    return context.with(trace.setSpan(parent, span), () =>
      withLogContext(logFields, async (): Promise<Handled> => {
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
      }),
    );
  }
}

/** The key of a topic-partition's window. */
function windowKey(topic: string, partition: number): string {
  return `${topic}|${partition}`;
}

/** A partition number's turn to process and publish, with its transactional producer in transactional stages. */
interface Lane {
  producer?: BatonProducer;
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
