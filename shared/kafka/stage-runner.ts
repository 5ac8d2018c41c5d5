import type { Consumer, EachBatchPayload, KafkaMessage } from "kafkajs";
import { BatonError } from "../errors.ts";
import { retryTopicName } from "../topics.ts";
import { headersToText } from "./headers.ts";
import { dueAt } from "./retry-routing.ts";
import { coPartitionedAssigner } from "./co-partitioned-assigner.ts";
import { isRejoinError, rejoinError, withJoinHooks, type JoinedGroup } from "./join-hook.ts";
import { LaneLostError, Lanes, type Lane } from "./lanes.ts";
import { processMessage, type Handled } from "./message-processor.ts";
import { processInOrder } from "./in-order-processing.ts";
import { WindowedProcessing } from "./windowed-processing.ts";
import type { RunnerParts } from "./runner-parts.ts";
import type { StageRunnerOptions } from "./stage-runner-options.ts";

export type { ReceivedMessage } from "./received-message.ts";
export type { OwnedPartitions, StageHandler, StageOutcome, StageRunnerOptions } from "./stage-runner-options.ts";

/**
 * Runs a stage: consume in the stage's group, decode, call the logic, produce its messages and commit the input's
 * offsets (in one transaction per chunk with transactional producers). Partition number n of every input is owned
 * by one member at a time, and ownership follows the group's assignment: a member fences the previous owner of each
 * partition it gets before reading it, and stops and closes what it gives up. A message that cannot be decoded, or
 * whose logic fails, goes to its retry topic or dead letter with the raw bytes and the reason, and the partition
 * keeps flowing. In order (a chunk at a time, in-order-processing.ts) or windowed (off the poll loop,
 * windowed-processing.ts).
 */
export class StageRunner<T> {
  private readonly options: StageRunnerOptions<T>;
  private readonly consumer: Consumer;
  private readonly lanes: Lanes;
  private readonly parts: RunnerParts;
  private readonly windowed: WindowedProcessing | undefined;
  private readonly sessionTimeoutMs: number;
  private readonly rebalanceTimeoutMs: number;
  private partitionCount = 0;
  private running = false;
  /** The offset this member last committed per topic-partition (`topic|partition`), while it owns it. */
  private readonly committed = new Map<string, string>();

  constructor(options: StageRunnerOptions<T>) {
    this.options = options;
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? 30_000;
    this.rebalanceTimeoutMs = Math.max(options.rebalanceTimeoutMs ?? 60_000, this.sessionTimeoutMs * 2);
    const heartbeatIntervalMs = Math.min(3_000, Math.floor(this.sessionTimeoutMs / 10));
    this.lanes = new Lanes({
      groupId: options.groupId,
      transactionalProducer: options.transactionalProducer,
      logger: options.logger,
      stage: options.stage,
    });
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: this.sessionTimeoutMs,
      rebalanceTimeout: this.rebalanceTimeoutMs,
      heartbeatInterval: heartbeatIntervalMs,
      partitionAssigners: [
        withJoinHooks(coPartitionedAssigner({ owned: () => this.lanes.owned() }), {
          beforeJoin: () => this.beforeJoin(),
          afterJoin: (joined, heartbeat) => this.afterJoin(joined, heartbeat),
        }),
      ],
      // kafkajs fetches a resumed partition (a retry come due, a window with room) only with its next fetch, so
      // this bounds how long it waits: well under a retry's delay; short for windows, which pause and resume
      // all the time under load (docs/decisions/005).
      maxWaitTimeInMs: options.maxInFlightPerPartition === undefined ? 500 : 50,
    });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) return;
      // kafkajs restarts a crashed consumer only for errors it calls retriable: after a broker restart, "failed to
      // find group coordinator" stopped the group's consumer for good and the stage read nothing more. A refusal of
      // Kafka's security is for the caller to report (it exits); anything else is started again.
      options.onConsumerGaveUp?.(payload.error);
      this.startAgainAfterCrash(payload.error, 1_000);
    });
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      options.metrics?.consumerLag.set(
        { topic: payload.topic, partition: String(payload.partition) },
        Number(payload.offsetLag),
      );
    });
    this.parts = {
      lanes: this.lanes,
      running: () => this.running,
      process: (topic, partition, message) => processMessage(options, topic, partition, message),
      publish: (lane, topic, partition, handled, nextOffset) =>
        this.publish(lane, topic, partition, handled, nextOffset),
      published: (handled) => {
        for (const result of handled) result.afterCommit?.();
        for (const result of handled) result.finish(undefined);
      },
      waitUntilDue: (topic, partition, message) => this.waitUntilDue(topic, partition, message),
      pause: (topic, partition) => this.flow("pause", () => this.consumer.pause([{ topic, partitions: [partition] }])),
      resume: (topic, partition) =>
        this.flow("resume", () => this.consumer.resume([{ topic, partitions: [partition] }])),
      seek: (topic, partition, offset) => this.flow("rewind", () => this.consumer.seek({ topic, partition, offset })),
      chunkBudgetMs: Math.floor(this.rebalanceTimeoutMs / 4),
      heartbeatIntervalMs,
      maxBatchSize: options.maxBatchSize ?? 200,
      onChunkAborted: (topic, partition) => options.onChunkAborted?.(topic, partition),
    };
    this.windowed =
      options.maxInFlightPerPartition === undefined
        ? undefined
        : new WindowedProcessing(this.parts, {
            bound: options.maxInFlightPerPartition,
            logger: options.logger,
            stage: options.stage,
          });
  }

  /** Ready: consuming, with partitions owned (what /readyz reports). */
  get ready(): boolean {
    return this.running && this.lanes.numbers.length > 0;
  }

  /** The input partition numbers this instance owns now. */
  get ownedPartitions(): number[] {
    return this.lanes.numbers;
  }

  /** Checks the topics, connects, subscribes and starts consuming; resolves once the consumer is running. */
  async start(): Promise<void> {
    const retryTopics = this.options.topics.flatMap((topic) =>
      (this.options.retryDelaysMs?.get(topic) ?? []).map((delay) => retryTopicName(topic, delay)),
    );
    const subscribed = [...this.options.topics, ...new Set(retryTopics)];
    try {
      this.partitionCount = await this.checkPartitionCounts([...subscribed, ...(this.options.stateTopics ?? [])]);
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: subscribed, fromBeginning: this.options.fromBeginning ?? true });
    } catch (error) {
      if (error instanceof BatonError) throw error;
      throw new BatonError("KAFKA_UNAVAILABLE", `consumer cannot start: ${(error as Error).message}`, { cause: error });
    }
    this.running = true;
    await this.consumer.run(this.runConfig());
  }

  /** Runs the consumer again after kafkajs gave up on it, trying again (doubling up to 30 s) while it cannot. */
  private startAgainAfterCrash(error: Error, delayMs: number): void {
    if (!this.running) return;
    this.options.logger.warn(
      { stage: this.options.stage, err: error, retryInMs: delayMs },
      "consumer stopped by kafkajs; starting it again",
    );
    setTimeout(() => {
      if (!this.running) return;
      this.consumer
        .connect()
        .then(() => this.consumer.run(this.runConfig()))
        .catch((next: unknown) => this.startAgainAfterCrash(next as Error, Math.min(delayMs * 2, 30_000)));
    }, delayMs);
  }

  private runConfig(): Parameters<Consumer["run"]>[0] {
    return {
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachBatch: (payload) => this.eachBatch(payload),
    };
  }

  /**
   * Stops taking messages, lets those in flight finish and commit (up to `drainTimeoutMs`; what is left is
   * redelivered to the partition's next owner), leaves the group, and closes the lanes' producers.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const windowed = this.windowed;
    if (windowed !== undefined) {
      for (const { topic, partition } of windowed.partitions) this.parts.pause(topic, partition);
      const until = Date.now() + (this.options.drainTimeoutMs ?? 30_000);
      while (windowed.busy && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
      if (windowed.busy) this.options.logger.warn({ stage: this.options.stage }, "stopping with calls still in flight");
    }
    await this.consumer.disconnect();
    await this.lanes.close();
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const before = this.lanes.takeRejoinReason();
    if (before !== undefined) throw rejoinError(before);
    try {
      if (this.windowed === undefined) await processInOrder(this.parts, payload);
      else await this.windowed.handle(payload);
    } catch (error) {
      // The group is rebalancing: kafkajs joins again (the chunk was committed, or is redelivered).
      if (isRejoinError(error)) throw error;
      this.options.logger.warn(
        { stage: this.options.stage, topic: payload.batch.topic, partition: payload.batch.partition, err: error },
        "chunk given up before its commit; it is redelivered",
      );
      const reason = this.lanes.takeRejoinReason();
      if (reason !== undefined) throw rejoinError(reason);
      // A partition given up meanwhile: its messages are the new owner's now.
      if (error instanceof LaneLostError) return;
      throw error;
    }
  }

  /**
   * Before joining a rebalance: the calls in flight finish and are published while this member still owns their
   * partitions (up to a quarter of the rebalance timeout, at most 15 s), so a graceful change of membership leaves
   * no call whose outcome the next owner cannot know. What is still running after that is given up as before.
   */
  private async beforeJoin(): Promise<void> {
    const windowed = this.windowed;
    if (windowed === undefined || !windowed.busy) return;
    const startedAt = Date.now();
    const until = startedAt + Math.min(15_000, this.parts.chunkBudgetMs);
    while (windowed.busy && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    this.options.logger.info(
      { stage: this.options.stage, ms: Date.now() - startedAt, stillRunning: windowed.busy },
      "finished the calls in flight before rejoining the group",
    );
  }

  /**
   * After each join, before anything is fetched: lanes follow the assignment (new partitions' producers fence
   * their previous owners), windows of partitions given up are dropped, and the stage loads the state of what it
   * owns. The membership is kept alive meanwhile, and checked at the end: if the group moved on, it joins again.
   */
  private async afterJoin(joined: JoinedGroup, heartbeat: () => Promise<void>): Promise<void> {
    const { logger, stage, metrics } = this.options;
    const numbers = [...new Set(Object.values(joined.assignment).flat())].sort((a, b) => a - b);
    const startedAt = performance.now();
    const beat = setInterval(() => {
      heartbeat().catch(() => undefined);
    }, this.parts.heartbeatIntervalMs);
    try {
      const change = await this.lanes.follow(joined.memberId, joined.generationId, numbers);
      const fresh = new Set(change.added);
      this.windowed?.keepOnly(new Set(numbers.filter((number) => !fresh.has(number))));
      this.resumeWhereCommitted(joined.assignment, new Set([...change.added, ...change.removed]));
      metrics?.ownedPartitions.reset();
      for (const number of numbers) metrics?.ownedPartitions.set({ partition: String(number) }, 1);
      await this.options.onAssigned?.({ numbers, ...change, partitionCount: this.partitionCount });
      logger.info(
        {
          stage,
          generation: joined.generationId,
          partitions: numbers,
          added: change.added,
          removed: change.removed,
          ms: Math.round(performance.now() - startedAt),
        },
        "partitions assigned",
      );
    } finally {
      clearInterval(beat);
    }
    await heartbeat();
  }

  /**
   * A partition kept across a rebalance goes on from this member's own last commit. kafkajs asks the broker for the
   * committed offsets after every join, and a transaction's offsets show there only once its markers are written, a
   * moment after the commit returned: a rebalance right after a commit would read the chunk again and publish its
   * output twice. Partitions taken on need no such care: fencing their previous owner waited for its markers.
   */
  private resumeWhereCommitted(assignment: Record<string, number[]>, moved: ReadonlySet<number>): void {
    for (const key of [...this.committed.keys()]) {
      const partition = Number(key.slice(key.lastIndexOf("|") + 1));
      if (moved.has(partition)) this.committed.delete(key);
    }
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        const offset = this.committed.get(`${topic}|${partition}`);
        if (offset !== undefined) this.parts.seek(topic, partition, offset);
      }
    }
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
      try {
        await lane.producer.transaction(async (transaction) => {
          await transaction.sendPrepared(prepared);
          if (offsets.length > 0) await transaction.commitOffsets({ consumerGroupId: this.options.groupId, offsets });
        });
      } catch (error) {
        this.lanes.failed(lane, error);
        throw error;
      }
    } else {
      await this.options.producer.sendPrepared(prepared);
      if (offsets.length > 0) await this.consumer.commitOffsets(offsets);
    }
    if (nextOffset !== undefined) this.committed.set(`${topic}|${partition}`, nextOffset);
    for (const { topic: to } of prepared) this.options.metrics?.messagesOut.inc({ topic: to });
  }

  /**
   * The partition count shared by a stage's topics (inputs, their retry topics, its state topics): partition n of
   * each belongs to one member, so they must agree. A stage whose topics differ refuses to start, naming them.
   */
  private async checkPartitionCounts(topicNames: string[]): Promise<number> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    let counts: Map<string, number>;
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: topicNames });
      counts = new Map(metadata.topics.map((topic) => [topic.name, topic.partitions.length]));
    } finally {
      await admin.disconnect();
    }
    const distinct = new Set(counts.values());
    if (distinct.size > 1) {
      const listing = [...counts].map(([name, count]) => `${name}=${count}`).join(", ");
      throw new BatonError(
        "CONFIG_INVALID",
        `the ${this.options.stage}'s topics differ in partition count (${listing}): partition n of each must go to one ` +
          "instance; give them the same count (`baton topics apply`)",
      );
    }
    return [...distinct][0] ?? 0;
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
}
