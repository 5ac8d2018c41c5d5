import type { EachBatchPayload } from "kafkajs";
import type { Logger } from "../telemetry/logger.ts";
import { headersToText } from "./headers.ts";
import { dueAt, isRetryTopic } from "./retry-routing.ts";
import { PartitionWindow } from "./partition-window.ts";
import type { Handled } from "./message-processor.ts";
import type { RunnerParts } from "./runner-parts.ts";

/**
 * Handles a partition's messages concurrently, off the poll loop, up to `bound` unfinished per partition: each
 * message's output is published as soon as it is done, with the offset below the oldest one still running; a full
 * window pauses its partition until calls end. For stages whose messages are independent and may take minutes
 * (the executor's tool calls): the consumer keeps polling and heartbeating however long they take.
 */
export class WindowedProcessing {
  private readonly parts: RunnerParts;
  private readonly bound: number;
  private readonly logger: Logger;
  private readonly stage: string;
  private readonly windows = new Map<string, PartitionWindow<Handled>>();

  constructor(parts: RunnerParts, options: { bound: number; logger: Logger; stage: string }) {
    this.parts = parts;
    this.bound = options.bound;
    this.logger = options.logger;
    this.stage = options.stage;
  }

  /** Starts each message of a batch and returns at once (see the class comment). */
  async handle(payload: EachBatchPayload): Promise<void> {
    const { parts } = this;
    const { batch } = payload;
    const id = windowKey(batch.topic, batch.partition);
    let window = this.windows.get(id);
    if (window === undefined) {
      window = new PartitionWindow<Handled>(batch.topic, batch.partition, this.bound);
      this.windows.set(id, window);
    }
    const current = window;
    for (const message of batch.messages) {
      if (!parts.running() || !payload.isRunning() || payload.isStale() || !parts.lanes.owns(batch.partition)) break;
      if (current.has(message.offset)) {
        payload.resolveOffset(message.offset);
        continue;
      }
      if (isRetryTopic(batch.topic) && dueAt(headersToText(message.headers)) > Date.now()) {
        parts.waitUntilDue(batch.topic, batch.partition, message);
        break;
      }
      if (current.full) {
        current.pausedWhenFull = true;
        parts.pause(batch.topic, batch.partition);
        break;
      }
      current.start(message.offset);
      payload.resolveOffset(message.offset);
      parts.process(batch.topic, batch.partition, message).then(
        (handled) => {
          if (current.finish(message.offset, handled)) this.flush(current);
          else handled.finish(new Error("the partition's uncommitted work was given up; it is redelivered"));
        },
        (error: unknown) => this.abandon(current, error, { seek: true }),
      );
    }
    await payload.heartbeat();
  }

  /** Gives up the windows of partition numbers this member no longer owns (or owns under a new lane). */
  keepOnly(numbers: ReadonlySet<number>): void {
    for (const window of [...this.windows.values()]) {
      if (!numbers.has(window.partition))
        this.abandon(window, new Error("partition moved to another member"), { seek: false });
    }
  }

  /** Whether any window still has messages running or waiting to be published. */
  get busy(): boolean {
    return [...this.windows.values()].some((window) => !window.idle || window.flushing);
  }

  /** The topic-partitions that have a window (to pause them all when stopping). */
  get partitions(): Array<{ topic: string; partition: number }> {
    return [...this.windows.values()].map(({ topic, partition }) => ({ topic, partition }));
  }

  /** Publishes a window's done messages with the offset below its oldest running one, one publish at a time. */
  private flush(window: PartitionWindow<Handled>): void {
    if (window.flushing) return;
    window.flushing = true;
    const { parts } = this;
    void (async () => {
      let results: Handled[] = [];
      try {
        while (!window.abandoned) {
          const ready = window.takeReady();
          results = ready.results;
          if (results.length === 0 && ready.commitOffset === undefined) break;
          await parts.lanes.run(window.partition, (lane) =>
            parts.publish(lane, window.topic, window.partition, results, ready.commitOffset),
          );
          parts.published(results);
          results = [];
          if (window.pausedWhenFull && !window.full && parts.running()) {
            window.pausedWhenFull = false;
            parts.resume(window.topic, window.partition);
          }
        }
      } catch (error) {
        for (const result of results) result.finish(error);
        this.abandon(window, error, { seek: parts.lanes.owns(window.partition) });
      } finally {
        window.flushing = false;
      }
    })();
  }

  /**
   * Gives up a window's uncommitted work after a failed publish or a lost partition: late results are dropped
   * and, while the partition is still this member's, consumption restarts at its last commit, so nothing is lost
   * (a call still running is joined again by the stage, not started twice).
   */
  private abandon(window: PartitionWindow<Handled>, error: unknown, options: { seek: boolean }): void {
    if (window.abandoned) return;
    window.abandoned = true;
    const { parts } = this;
    const id = windowKey(window.topic, window.partition);
    if (this.windows.get(id) === window) this.windows.delete(id);
    parts.onChunkAborted(window.topic, window.partition);
    this.logger.warn(
      { stage: this.stage, topic: window.topic, partition: window.partition, err: error },
      "giving up the partition's uncommitted messages; they are redelivered",
    );
    const restart = window.restartOffset;
    if (options.seek && parts.running() && restart !== undefined) parts.seek(window.topic, window.partition, restart);
    if (window.pausedWhenFull && parts.running()) parts.resume(window.topic, window.partition);
  }
}

/** The key of a topic-partition's window. */
function windowKey(topic: string, partition: number): string {
  return `${topic}|${partition}`;
}
