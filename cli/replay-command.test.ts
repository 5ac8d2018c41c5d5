import { describe, expect, it } from "vitest";
import { evenSample, exitCodeOf, misuseOf, type ReplayReport } from "./replay-command.ts";

describe("baton replay's flags", () => {
  it("takes request ids or a whole window, never both or neither", () => {
    expect(misuseOf(["r-1"], {})).toBeUndefined();
    expect(misuseOf([], { from: 1, to: 2 })).toBeUndefined();
    expect(misuseOf([], {})).toMatch(/give one or more request ids, or a window/);
    expect(misuseOf(["r-1"], { from: 1, to: 2 })).toMatch(/not both/);
    expect(misuseOf([], { from: 1 })).toMatch(/needs both --from and --to/);
    expect(misuseOf([], { from: 2, to: 1 })).toMatch(/--to is before --from/);
    expect(misuseOf(["r-1"], { status: "FAILED" })).toMatch(/select requests of a window/);
  });

  it("samples a window evenly, the same way every time", () => {
    const items = Array.from({ length: 10 }, (_, index) => index);
    expect(evenSample(items, 3)).toEqual([0, 3, 6]);
    expect(evenSample(items, 20)).toEqual(items);
    expect(evenSample(items, undefined)).toEqual(items);
  });

  it("exits 0 when all is the same, 1 when something changed, 2 when a request could not be replayed", () => {
    const report = (verdicts: Array<"same" | "changed" | "failed">): ReplayReport => ({
      replayId: "x",
      verdicts: verdicts.map((verdict, index) => ({
        requestId: String(index),
        verdict,
        diffs: [],
        newCalls: [],
        recordedCalls: 0,
        readOnlyCalls: 0,
      })),
      skippedUnanswered: 0,
      replayMs: 0,
      originalMs: 0,
    });
    expect(exitCodeOf(report(["same", "same"]))).toBe(0);
    expect(exitCodeOf(report(["same", "changed"]))).toBe(1);
    expect(exitCodeOf(report(["changed", "failed"]))).toBe(2);
  });
});
