import type { Kafka } from "kafkajs";
import type { Tracer } from "@opentelemetry/api";
import type { AvroCodec } from "../schemas/codec.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { StageMetrics } from "../telemetry/metrics.ts";
import type { BatonProducer, OutgoingMessage, RawOutgoingMessage } from "./producer.ts";
import type { ReceivedMessage } from "./received-message.ts";

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

/** The partition numbers of a stage's inputs this instance owns after a rebalance, and what changed. */
export interface OwnedPartitions {
  /** Every number owned now, ascending. */
  numbers: number[];
  /** Numbers this instance did not own before (their previous owner is fenced by now). */
  added: number[];
  /** Numbers it owned before and gave up. */
  removed: number[];
  /** How many partitions each input topic has (the same for all of them). */
  partitionCount: number;
}

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
   * batches; the runner heartbeats while a chunk runs).
   */
  sessionTimeoutMs?: number;
  /**
   * How long a rebalance waits for members to join again (default 60 s, at least twice the session timeout). A
   * chunk stops taking messages after a quarter of it, so a member finishes its chunk and joins in time.
   */
  rebalanceTimeoutMs?: number;
  /**
   * Retry ladder of each input topic (`baton.requests` -> [1000, 10000, 60000]): a retriable failure goes to
   * `<topic>.retry.<delay>` for each rung in turn, then to `<topic>.dlq`. The runner consumes the retry topics
   * too, each message when its delay has passed. A BatonError may carry `details.retryDelaysMs` (rungs of the
   * same ladder) to retry differently, as per-tool settings do.
   */
  retryDelaysMs?: ReadonlyMap<string, readonly number[]>;
  /**
   * Makes a producer with a transactionalId; given, each chunk's messages and its offset commit become visible
   * together (Kafka transactions with sendOffsets). The runner keeps one per owned input partition number, with
   * the id `<groupId>-p<partition>`, made when the partition is assigned and before it is read, so the new owner
   * fences the old one; it is closed when the partition is revoked, and replaced after it fails.
   */
  transactionalProducer?: (transactionalId: string) => Promise<BatonProducer>;
  /**
   * Topics the stage keeps state in, beside its inputs (`baton.runs`): they must have the inputs' partition count,
   * since the state of partition n is held by the owner of partition n.
   */
  stateTopics?: string[];
  /**
   * Output topics co-partitioned with the inputs: a message to one goes to the input's partition number (unless it
   * names one), so a request's messages stay with the instance that owns the request. Retry topics and dead letters
   * always keep the input's partition number.
   */
  keepsPartition?: (topic: string) => boolean;
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
  /** Where the runner counts messages, latency, retries, dead letters, lag and owned partitions. */
  metrics?: StageMetrics;
  /** Called when a chunk of a partition failed before its commit: state kept for it must be dropped. */
  onChunkAborted?: (topic: string, partition: number) => void;
  /**
   * Awaited after each rebalance, once the producers of new partitions fenced their previous owners and before
   * anything is read: load the state of the partitions now owned, drop the state of those given up.
   */
  onAssigned?: (owned: OwnedPartitions) => Promise<void>;
  /** Called when kafkajs gives up on the group's consumer (a crash it does not restart), before the runner starts it again. */
  onConsumerGaveUp?: (error: Error) => void;
}
