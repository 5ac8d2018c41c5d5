/** One topic-partition, as kafkajs names it in pause and resume. */
interface TopicPartition {
  topic: string;
  partition: number;
}

/** What {@link RetryPolling} does to the consumer. */
export interface RetryPollingOptions {
  /** How often the retry partitions are fetched once (ms): well under the shortest retry delay. */
  intervalMs: number;
  pause(topic: string, partition: number): void;
  resume(topic: string, partition: number): void;
  /** Whether a topic is a retry topic (its partitions are polled; the others are left alone). */
  isRetryTopic(topic: string): boolean;
}

/**
 * Keeps a stage's retry partitions out of its fetches but for one fetch every `intervalMs`. A stage reads its
 * inputs and three retry topics of each (12 partitions apiece), and a fetch names every partition not paused: the
 * retry partitions, nearly always empty, were three quarters of every fetch request and response, which the broker
 * and kafkajs handle again for every transaction a read_committed consumer wakes up for (docs/decisions/011).
 * A retry message waits in its topic at least its rung's delay (1 s and up), so a poll each second costs it little.
 *
 * The runner's own flow control comes first: a retry partition paused because its head is not due yet, or because
 * its window is full, is held and never resumed by a poll; once flow control resumes it, it is fetched until the
 * next poll ends.
 */
export class RetryPolling {
  private readonly options: RetryPollingOptions;
  private readonly assigned = new Map<string, TopicPartition>();
  private readonly held = new Set<string>();
  /** Resumed for a poll and not yet in a fetch that started since. */
  private opened = false;
  /** A fetch with the retry partitions in it is running: they are paused again when it ends. */
  private polling = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RetryPollingOptions) {
    this.options = options;
  }

  /** After each join, before the first fetch: the retry partitions assigned now are paused until the next poll. */
  follow(assignment: Record<string, readonly number[]>): void {
    const now = new Map<string, TopicPartition>();
    for (const [topic, partitions] of Object.entries(assignment))
      if (this.options.isRetryTopic(topic))
        for (const partition of partitions) now.set(key(topic, partition), { topic, partition });
    for (const id of this.held) if (!now.has(id)) this.held.delete(id);
    this.assigned.clear();
    for (const [id, topicPartition] of now) this.assigned.set(id, topicPartition);
    this.opened = false;
    this.polling = false;
    this.pauseUnheld();
  }

  /** Flow control paused a partition (a head not due, a full window): polls leave it paused. */
  hold(topic: string, partition: number): void {
    if (this.options.isRetryTopic(topic)) this.held.add(key(topic, partition));
  }

  /** Flow control resumed a partition: it is fetched from now on, and paused again when the next poll ends. */
  release(topic: string, partition: number): void {
    this.held.delete(key(topic, partition));
  }

  /** Whether a retry partition is held by flow control. */
  isHeld(topic: string, partition: number): boolean {
    return this.held.has(key(topic, partition));
  }

  /** Starts polling every `intervalMs`. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.open(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A fetch is starting (kafkajs's FETCH_START): after a poll opened, it is the fetch that reads the retries. */
  fetchStarting(): void {
    if (!this.opened) return;
    this.opened = false;
    this.polling = true;
  }

  /** A fetch ended (kafkajs's FETCH): after the polling fetch, the retry partitions are paused again. */
  fetchEnded(): void {
    if (!this.polling) return;
    this.polling = false;
    this.pauseUnheld();
  }

  /** Resumes the retry partitions not held, for the next fetch. */
  private open(): void {
    if (this.opened || this.polling) return;
    for (const [id, { topic, partition }] of this.assigned)
      if (!this.held.has(id)) this.options.resume(topic, partition);
    this.opened = true;
  }

  private pauseUnheld(): void {
    for (const [id, { topic, partition }] of this.assigned)
      if (!this.held.has(id)) this.options.pause(topic, partition);
  }
}

function key(topic: string, partition: number): string {
  return `${topic}|${partition}`;
}
