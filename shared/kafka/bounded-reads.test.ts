import { describe, expect, it } from "vitest";
import { BoundedReads } from "./bounded-reads.ts";

function readMessages(reads: BoundedReads, topic: string, partition: number, offsets: number[]): boolean[] {
  reads.batchStarted(topic, partition);
  const accepted = offsets.map((offset) => reads.messageRead(topic, partition, String(offset)));
  const first = offsets[0];
  const last = offsets.at(-1);
  reads.batchEnded(topic, partition, {
    batchSize: accepted.filter(Boolean).length,
    firstOffset: first === undefined ? null : String(first),
    lastOffset: last === undefined ? null : String(last),
  });
  return accepted;
}

describe("bounded reads", () => {
  it("is done at once when every partition is empty", () => {
    const reads = new BoundedReads([
      { topic: "a", partition: 0, from: 0n, end: 0n },
      { topic: "a", partition: 1, from: 42n, end: 42n },
    ]);
    expect(reads.done()).toBe(true);
    expect(reads.pendingTopics()).toEqual([]);
  });

  it("is done at once when nothing is asked for", () => {
    expect(new BoundedReads([]).done()).toBe(true);
  });

  it("is done once each partition's position reaches the end taken at the start, not before", () => {
    const reads = new BoundedReads([
      { topic: "a", partition: 0, from: 0n, end: 3n },
      { topic: "b", partition: 2, from: 5n, end: 6n },
    ]);
    expect(reads.pendingTopics()).toEqual(["a", "b"]);
    readMessages(reads, "a", 0, [0, 1, 2]);
    expect(reads.isDone("a", 0)).toBe(true);
    expect(reads.done()).toBe(false);
    expect(reads.unfinished()).toEqual([{ topic: "b", partition: 2, from: 5n, end: 6n, position: 5n }]);
    readMessages(reads, "b", 2, [5]);
    expect(reads.done()).toBe(true);
  });

  it("leaves out messages written after the start, past the end", () => {
    const reads = new BoundedReads([{ topic: "a", partition: 0, from: 0n, end: 2n }]);
    expect(readMessages(reads, "a", 0, [0, 1, 2, 3])).toEqual([true, true, false, false]);
    expect(reads.done()).toBe(true);
  });

  it("ignores partitions and topics it was not asked to read", () => {
    const reads = new BoundedReads([{ topic: "a", partition: 1, from: 0n, end: 1n }]);
    expect(reads.messageRead("a", 0, "0")).toBe(false);
    expect(reads.messageRead("b", 1, "0")).toBe(false);
    expect(reads.done()).toBe(false);
  });

  it("reaches an end that follows transaction markers through the batch's last offset", () => {
    // Offsets 0-1 are messages, 2 is the commit marker: the end taken at the start is 3.
    const reads = new BoundedReads([{ topic: "a", partition: 0, from: 0n, end: 3n }]);
    readMessages(reads, "a", 0, [0, 1]);
    expect(reads.done()).toBe(false);
    reads.batchStarted("a", 0);
    reads.batchEnded("a", 0, { batchSize: 0, firstOffset: "2", lastOffset: "2" });
    expect(reads.done()).toBe(true);
  });

  it("reaches an end past an aborted transaction, whose messages are never delivered", () => {
    const reads = new BoundedReads([{ topic: "a", partition: 0, from: 0n, end: 5n }]);
    reads.batchStarted("a", 0);
    reads.batchEnded("a", 0, { batchSize: 0, firstOffset: "0", lastOffset: "3" });
    reads.batchStarted("a", 0);
    reads.batchEnded("a", 0, { batchSize: 0, firstOffset: "4", lastOffset: "4" });
    expect(reads.done()).toBe(true);
  });

  it("after a join, seeks each partition still to read to where it stands", () => {
    const reads = new BoundedReads([
      { topic: "a", partition: 0, from: 0n, end: 10n },
      { topic: "a", partition: 1, from: 0n, end: 1n },
    ]);
    readMessages(reads, "a", 0, [0, 1, 2]);
    readMessages(reads, "a", 1, [0]);
    expect(reads.rejoined()).toEqual([{ topic: "a", partition: 0, from: 0n, end: 10n, position: 3n }]);
  });
});
