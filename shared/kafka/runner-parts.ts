import type { KafkaMessage } from "kafkajs";
import type { Handled } from "./message-processor.ts";
import type { Lane, Lanes } from "./lanes.ts";

/**
 * What the runner lends the two ways of processing a partition (in order, or windowed): its lanes, processing of
 * one message, publishing with the offset commit, and flow control of the consumer.
 */
export interface RunnerParts {
  readonly lanes: Lanes;
  /** False once the runner stops. */
  running(): boolean;
  process(topic: string, partition: number, message: KafkaMessage): Promise<Handled>;
  /**
   * Sends handled messages' output and commits `nextOffset` (if given): in one transaction with the lane's
   * producer, or produce then commit without one. A producer that can no longer be used closes its lane.
   */
  publish(
    lane: Lane,
    topic: string,
    partition: number,
    handled: Handled[],
    nextOffset: string | undefined,
  ): Promise<void>;
  /** After a publish: state follows Kafka's, spans end. */
  published(handled: Handled[]): void;
  /** Pauses a retry partition until its next message is due; the other partitions keep flowing. */
  waitUntilDue(topic: string, partition: number, message: KafkaMessage): void;
  pause(topic: string, partition: number): void;
  resume(topic: string, partition: number): void;
  seek(topic: string, partition: number, offset: string): void;
  /** The longest a chunk takes new messages before it is published (bounded by the rebalance timeout). */
  readonly chunkBudgetMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxBatchSize: number;
  onChunkAborted(topic: string, partition: number): void;
}
