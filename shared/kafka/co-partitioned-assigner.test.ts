import { describe, expect, it } from "vitest";
import { coPartitionedAssignment } from "./co-partitioned-assigner.ts";

const topics = new Map([
  ["baton.requests", [0, 1, 2, 3, 4, 5]],
  ["baton.tool-results", [0, 1, 2, 3, 4, 5]],
  ["baton.requests.retry.1000", [0, 1, 2, 3, 4, 5]],
]);

describe("coPartitionedAssignment", () => {
  it("gives partition n of every topic to one member", () => {
    const assignment = coPartitionedAssignment(["member-b", "member-a", "member-c"], topics);
    for (let partition = 0; partition < 6; partition += 1) {
      const owners = [...assignment]
        .filter(([, owned]) => Object.values(owned).some((partitions) => partitions.includes(partition)))
        .map(([member]) => member);
      expect(owners).toHaveLength(1);
      const owned = assignment.get(owners[0] ?? "") ?? {};
      for (const topic of topics.keys()) expect(owned[topic]).toContain(partition);
    }
  });

  it("spreads partition numbers evenly and gives every member an entry", () => {
    const assignment = coPartitionedAssignment(["a", "b", "c", "d"], topics);
    const counts = [...assignment.values()].map((owned) => owned["baton.requests"]?.length ?? 0);
    expect(counts.sort()).toEqual([1, 1, 2, 2]);
    const crowded = coPartitionedAssignment(["a", "b", "c", "d", "e", "f", "g"], topics);
    expect(crowded.size).toBe(7);
    expect([...crowded.values()].filter((owned) => Object.keys(owned).length === 0)).toHaveLength(1);
  });

  it("covers partitions a topic has beyond the others'", () => {
    const assignment = coPartitionedAssignment(
      ["a", "b"],
      new Map([
        ["x", [0, 1]],
        ["y", [0, 1, 2]],
      ]),
    );
    const y = [...assignment.values()].flatMap((owned) => owned.y ?? []);
    expect(y.sort()).toEqual([0, 1, 2]);
  });
});
