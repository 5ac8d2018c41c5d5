// Where a read "up to the end offsets taken at start" stands on each topic-partition it reads, and when it is done.
// Knows nothing of Kafka's client; readToEnd drives it with the consumer's events.
import { PartitionReads, type BatchEnd } from "./partition-reads.ts";

/** One topic-partition to read: from `from` up to, not including, `end`. */
export interface PartitionRange {
  topic: string;
  partition: number;
  from: bigint;
  end: bigint;
}

/** A topic-partition not read to its end, and where the reading stopped. */
export interface UnfinishedRange extends PartitionRange {
  position: bigint;
}

/**
 * The positions of a bounded read: each range is done once its position reaches its end (an empty range at once),
 * counting transaction markers and aborted messages, which are never delivered, through the batches' last offsets.
 * A message at or past its range's end is not part of the read.
 */
export class BoundedReads {
  private readonly reads = new Map<string, PartitionReads>();
  private readonly ranges: PartitionRange[];

  constructor(ranges: readonly PartitionRange[]) {
    this.ranges = [...ranges];
    for (const range of ranges) {
      let reads = this.reads.get(range.topic);
      if (reads === undefined) {
        reads = new PartitionReads({ followAll: false });
        this.reads.set(range.topic, reads);
      }
      reads.own(range.partition, 0);
      const epoch = reads.awaitingStart().find((waiting) => waiting.partition === range.partition)?.epoch ?? 0;
      reads.startReading(range.partition, epoch, range.from, range.end);
    }
  }

  /** The ranges still to read, with where each stands now (where to seek after a join). */
  pending(): Array<PartitionRange & { position: bigint }> {
    return this.ranges.flatMap((range) => {
      const position = this.reads.get(range.topic)?.position(range.partition) ?? range.from;
      return position >= range.end ? [] : [{ ...range, position }];
    });
  }

  /** Topics with a range still to read. */
  pendingTopics(): string[] {
    return [...new Set(this.pending().map((range) => range.topic))];
  }

  /** Records a message read; true when it belongs to the read (its range asked for it and it is before the end). */
  messageRead(topic: string, partition: number, offset: string): boolean {
    const range = this.ranges.find((candidate) => candidate.topic === topic && candidate.partition === partition);
    const reads = this.reads.get(topic);
    if (range === undefined || reads === undefined) return false;
    const at = BigInt(offset);
    if (at < range.from || at >= range.end) return false;
    const epoch = reads.readingEpoch(partition);
    return epoch !== undefined && reads.messageRead(partition, epoch, offset);
  }

  fetchStarted(nodeId: number): void {
    for (const reads of this.reads.values()) reads.fetchStarted(nodeId);
  }

  batchStarted(topic: string, partition: number): void {
    this.reads.get(topic)?.batchStarted(partition);
  }

  batchEnded(topic: string, partition: number, batch: BatchEnd): void {
    this.reads.get(topic)?.batchEnded(partition, batch);
  }

  /** A join forgets where the consumer stood: the ranges still to read and where to seek them. */
  rejoined(): Array<PartitionRange & { position: bigint }> {
    for (const reads of this.reads.values()) reads.rejoined();
    return this.pending();
  }

  /** Whether a range has been read to its end (true for a topic-partition not asked for). */
  isDone(topic: string, partition: number): boolean {
    const range = this.ranges.find((candidate) => candidate.topic === topic && candidate.partition === partition);
    if (range === undefined) return true;
    return (this.reads.get(topic)?.position(partition) ?? range.from) >= range.end;
  }

  /** Whether every range has been read to its end. */
  done(): boolean {
    return this.pending().length === 0;
  }

  /** The ranges not read to their end, for a read that ran out of time. */
  unfinished(): UnfinishedRange[] {
    return this.pending();
  }
}
