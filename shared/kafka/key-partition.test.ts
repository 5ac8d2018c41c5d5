import { describe, expect, it } from "vitest";
import { keyPartition } from "./key-partition.ts";

describe("key partition", () => {
  it("places a key on the same partition every time, within the count, spreading keys over all of them", () => {
    expect(keyPartition("request-1", 12)).toBe(keyPartition("request-1", 12));
    const placed = Array.from({ length: 200 }, (_, index) => keyPartition(`request-${index}`, 12));
    expect(placed.every((partition) => partition >= 0 && partition < 12)).toBe(true);
    expect(new Set(placed).size).toBe(12);
  });
});
