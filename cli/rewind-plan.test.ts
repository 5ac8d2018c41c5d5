import { describe, expect, it } from "vitest";
import { formatRewind, parseRewindTarget, planRewind, type PartitionStanding } from "./rewind-plan.ts";

const standing = (partition: number, fields: Partial<PartitionStanding> = {}): PartitionStanding => ({
  topic: "baton.allowed-calls",
  partition,
  low: 10n,
  end: 100n,
  committed: 80n,
  ...fields,
});

describe("rewind targets", () => {
  it.each([
    ["earliest", { kind: "earliest" }],
    ["latest", { kind: "latest" }],
    ["offset:42", { kind: "offset", offset: 42n }],
    ["42", { kind: "offset", offset: 42n }],
    ["2026-11-29T10:00:00Z", { kind: "time", at: Date.parse("2026-11-29T10:00:00Z") }],
  ])("reads %s", (text, target) => {
    expect(parseRewindTarget(text)).toEqual(target);
  });

  it("refuses anything else, saying what it accepts", () => {
    expect(() => parseRewindTarget("yesterday")).toThrow(/earliest, latest, an ISO time/);
  });
});

describe("planning a rewind", () => {
  it("moves to the first message at the time and counts what is read again", () => {
    const [move] = planRewind([standing(0, { atTime: 75n })], { kind: "time", at: 0 });
    expect(move).toMatchObject({ current: 80n, next: 75n, readAgain: 5n, skipped: 0n });
  });

  it("never moves forward to a time or the start, so nothing unread is skipped", () => {
    expect(planRewind([standing(0, { atTime: 100n })], { kind: "time", at: 0 })[0]).toMatchObject({
      next: 80n,
      skipped: 0n,
    });
    expect(planRewind([standing(0, { committed: 5n, low: 10n })], { kind: "earliest" })[0]?.next).toBe(5n);
  });

  it("keeps an offset within what the broker still holds", () => {
    expect(planRewind([standing(0)], { kind: "offset", offset: 3n })[0]?.next).toBe(10n);
    expect(planRewind([standing(0)], { kind: "offset", offset: 500n })[0]).toMatchObject({ next: 100n, skipped: 20n });
  });

  it("moves to the start or the end of each partition", () => {
    expect(planRewind([standing(0)], { kind: "earliest" })[0]).toMatchObject({ next: 10n, readAgain: 70n });
    expect(planRewind([standing(0)], { kind: "latest" })[0]).toMatchObject({ next: 100n, skipped: 20n });
  });

  it("reads nothing again on a partition the group never committed on", () => {
    expect(planRewind([standing(0, { committed: null })], { kind: "earliest" })[0]).toMatchObject({
      current: null,
      next: 10n,
      readAgain: 0n,
    });
  });

  it("prints the partitions that move, their offsets, and the totals", () => {
    const plan = planRewind([standing(0, { atTime: 78n }), standing(1, { committed: 100n, atTime: 100n })], {
      kind: "time",
      at: 0,
    });
    const lines = formatRewind("baton-executor", plan, true);
    expect(lines[1]).toMatch(/^baton\.allowed-calls\/0\s+80\s+78\s+2$/);
    expect(lines).toContain("dry run: nothing changed");
    expect(lines.join("\n")).toMatch(/would move baton-executor on 1 of 2 partitions \(1 unchanged\): 2 offsets/);
  });
});
