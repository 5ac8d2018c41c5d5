import { describe, expect, it } from "vitest";
import { PartitionReads, type BatchEnd } from "./partition-reads.ts";

/** Feeds a batch whose messages are all read, as kafkajs reports it: its end counts markers past the messages. */
function readBatch(reads: PartitionReads, partition: number, offsets: number[], lastOffset = offsets.at(-1)): void {
  reads.batchStarted(partition);
  for (const offset of offsets) {
    const epoch = reads.readingEpoch(partition);
    if (epoch !== undefined) reads.messageRead(partition, epoch, String(offset));
  }
  reads.batchEnded(partition, end(offsets.length, offsets[0] ?? lastOffset, lastOffset));
}

function end(batchSize: number, firstOffset: number | undefined, lastOffset: number | undefined): BatchEnd {
  return {
    batchSize,
    firstOffset: firstOffset === undefined ? null : String(firstOffset),
    lastOffset: lastOffset === undefined ? null : String(lastOffset),
  };
}

function epochOf(reads: PartitionReads, partition: number): number {
  return reads.awaitingStart().find((waiting) => waiting.partition === partition)?.epoch ?? -1;
}

/** A partitioned table's reads with partition 0 owned and read from offset 0, whose end is `loadEnd`. */
function reading(loadEnd: bigint): PartitionReads {
  const reads = new PartitionReads({ followAll: false });
  reads.own(0, 1_000);
  reads.startReading(0, epochOf(reads, 0), 0n, loadEnd);
  return reads;
}

describe("partition reads", () => {
  it("reads nothing of a partition not owned, nor of one owned before it is sought", () => {
    const reads = new PartitionReads({ followAll: false });
    expect(reads.readingEpoch(3)).toBeUndefined();
    reads.own(3, 0);
    expect(reads.readingEpoch(3)).toBeUndefined();
    readBatch(reads, 3, [0, 1]);
    expect(reads.position(3)).toBeUndefined();
    expect(reads.awaitingStart().map(({ partition }) => partition)).toEqual([3]);
  });

  it("counts the transaction markers at the end of a batch, and finishes the load at the end it had", () => {
    const reads = reading(4n);
    readBatch(reads, 0, [0, 1, 2]);
    expect(reads.position(0)).toBe(3n);
    expect(reads.finishLoads(1_500)).toEqual([]);
    readBatch(reads, 0, [], 3);
    expect(reads.position(0)).toBe(4n);
    expect(reads.finishLoads(1_500)).toEqual([{ partition: 0, catchUpMs: 500 }]);
    expect(reads.finishLoads(1_600)).toEqual([]);
    expect(reads.isLoaded(0)).toBe(true);
  });

  it("finishes the load of an empty partition at once", () => {
    const reads = new PartitionReads({ followAll: false });
    reads.own(2, 0);
    reads.startReading(2, epochOf(reads, 2), 7n, 7n);
    expect(reads.finishLoads(10)).toEqual([{ partition: 2, catchUpMs: 10 }]);
  });

  it("counts only the messages read of a batch cut short", () => {
    const reads = reading(100n);
    reads.batchStarted(0);
    reads.messageRead(0, reads.readingEpoch(0) ?? -1, "0");
    reads.messageRead(0, reads.readingEpoch(0) ?? -1, "1");
    reads.batchEnded(0, end(5, 0, 9));
    expect(reads.position(0)).toBe(2n);
  });

  it("starts no reading for an ownership given up since its offsets were asked for", () => {
    const reads = new PartitionReads({ followAll: false });
    reads.own(1, 0);
    const [asked] = reads.awaitingStart();
    reads.drop(1);
    reads.own(1, 10);
    expect(reads.startReading(1, asked?.epoch ?? -1, 0n, 5n)).toBe(false);
    expect(reads.readingEpoch(1)).toBeUndefined();
  });

  it("ignores a message read for an ownership given up since", () => {
    const reads = reading(100n);
    const before = reads.readingEpoch(0) ?? -1;
    reads.drop(0);
    reads.own(0, 2_000);
    reads.startReading(0, epochOf(reads, 0), 0n, 100n);
    expect(reads.messageRead(0, before, "50")).toBe(false);
    expect(reads.position(0)).toBe(0n);
  });

  it("lets no batch fetched before a partition was taken on again move its position", () => {
    const reads = reading(100n);
    reads.fetchStarted(1);
    readBatch(reads, 0, [0, 1, 2, 3, 4]);
    reads.drop(0);
    reads.own(0, 2_000);
    reads.startReading(0, epochOf(reads, 0), 0n, 100n);
    // A batch fetched at offset 5 before the seek: kafkajs hands none of its messages over, then reports its end.
    reads.batchStarted(0);
    reads.batchEnded(0, end(3, 5, 7));
    // Markers fetched before the seek, past where the new reading stands.
    reads.batchStarted(0);
    reads.batchEnded(0, end(0, 8, 9));
    expect(reads.position(0)).toBe(0n);
    // Markers where the reading stands count whenever they were fetched.
    reads.batchStarted(0);
    reads.batchEnded(0, end(0, 0, 1));
    expect(reads.position(0)).toBe(2n);
  });

  it("counts a batch of markers past a gap once every fetcher has fetched since the seek", () => {
    const reads = reading(100n);
    reads.fetchStarted(1);
    reads.fetchStarted(2);
    readBatch(reads, 0, [0]);
    reads.drop(0);
    reads.own(0, 0);
    reads.startReading(0, epochOf(reads, 0), 0n, 10n);
    reads.fetchStarted(1);
    reads.batchStarted(0);
    reads.batchEnded(0, end(0, 8, 9));
    expect(reads.position(0)).toBe(0n);
    reads.fetchStarted(2);
    reads.batchStarted(0);
    reads.batchEnded(0, end(0, 8, 9));
    expect(reads.position(0)).toBe(10n);
  });

  it("takes a message read after the seek as proof that later batches follow it", () => {
    const reads = reading(100n);
    reads.fetchStarted(1);
    readBatch(reads, 0, [0]);
    reads.drop(0);
    reads.own(0, 0);
    reads.startReading(0, epochOf(reads, 0), 0n, 100n);
    readBatch(reads, 0, [3]);
    reads.batchStarted(0);
    reads.batchEnded(0, end(0, 9, 12));
    expect(reads.position(0)).toBe(13n);
  });

  it("seeks every partition being read back to where it stands after a join", () => {
    const reads = reading(100n);
    readBatch(reads, 0, [0, 1, 2]);
    reads.own(1, 0);
    expect(reads.rejoined()).toEqual([{ partition: 0, offset: 3n }]);
  });

  it("follows every partition from the start when not partitioned", () => {
    const reads = new PartitionReads({ followAll: true });
    readBatch(reads, 5, [0, 1], 2);
    expect(reads.position(5)).toBe(3n);
    expect(reads.isLoaded(5)).toBe(true);
  });
});
