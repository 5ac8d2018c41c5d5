import { describe, expect, it } from "vitest";
import { coPartitionedAssignment, decodeOwned, encodeOwned, type OwnedNumbers } from "./co-partitioned-assigner.ts";

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

  const twelve = new Map([
    ["baton.requests", Array.from({ length: 12 }, (_, n) => n)],
    ["baton.tool-results", Array.from({ length: 12 }, (_, n) => n)],
  ]);
  const numbersOf = (assignment: Map<string, Record<string, number[]>>): Map<string, number[]> =>
    new Map([...assignment].map(([member, owned]) => [member, owned["baton.requests"] ?? []]));
  const claims = (owned: Map<string, number[]>, generation: number): Map<string, OwnedNumbers> =>
    new Map([...owned].map(([member, numbers]) => [member, { generation, numbers }]));
  const moved = (before: Map<string, number[]>, after: Map<string, number[]>): number =>
    [...after].reduce(
      (sum, [member, numbers]) => sum + numbers.filter((n) => !(before.get(member) ?? []).includes(n)).length,
      0,
    );

  it("a join moves only the numbers the newcomer needs", () => {
    const one = numbersOf(coPartitionedAssignment(["a"], twelve));
    const three = numbersOf(coPartitionedAssignment(["a", "b", "c"], twelve, claims(one, 1)));
    expect(moved(one, three)).toBe(8);
    expect([...three.values()].map((numbers) => numbers.length)).toEqual([4, 4, 4]);
    const four = numbersOf(coPartitionedAssignment(["a", "b", "c", "d"], twelve, claims(three, 2)));
    expect(moved(three, four)).toBe(3);
    for (const member of ["a", "b", "c"])
      for (const number of four.get(member) ?? []) expect(three.get(member)).toContain(number);
  });

  it("a leave moves only the leaver's numbers", () => {
    const three = numbersOf(coPartitionedAssignment(["a", "b", "c"], twelve));
    const left = new Map([...three].filter(([member]) => member !== "b"));
    const two = numbersOf(coPartitionedAssignment(["a", "c"], twelve, claims(left, 5)));
    expect(moved(left, two)).toBe(4);
    expect((two.get("a") ?? []).length + (two.get("c") ?? []).length).toBe(12);
    for (const number of three.get("a") ?? []) expect(two.get("a")).toContain(number);
    for (const number of three.get("c") ?? []) expect(two.get("c")).toContain(number);
  });

  it("a number claimed twice goes to the newer generation's claim, and loads stay even", () => {
    const previous = new Map<string, OwnedNumbers>([
      ["stale", { generation: 3, numbers: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] }],
      ["fresh", { generation: 7, numbers: [0, 1, 2, 3, 4, 5] }],
    ]);
    const owned = numbersOf(coPartitionedAssignment(["fresh", "stale"], twelve, previous));
    expect(owned.get("fresh")).toEqual([0, 1, 2, 3, 4, 5]);
    expect(owned.get("stale")).toEqual([6, 7, 8, 9, 10, 11]);
  });

  it("every number has exactly one owner whatever the members claim", () => {
    const previous = new Map<string, OwnedNumbers>([
      ["a", { generation: 1, numbers: [0, 1, 2, 3, 4, 5, 6, 7, 8, 99] }],
      ["b", { generation: 1, numbers: [0, 1, 2] }],
      ["c", { generation: 2, numbers: [11] }],
    ]);
    const owned = numbersOf(coPartitionedAssignment(["a", "b", "c", "d", "e"], twelve, previous));
    expect([...owned.values()].flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, n) => n));
    expect([...owned.values()].map((numbers) => numbers.length).sort()).toEqual([2, 2, 2, 3, 3]);
    expect(owned.get("c")).toContain(11);
  });

  it("join metadata round-trips, and metadata of other code claims nothing", () => {
    expect(decodeOwned(encodeOwned({ generation: 4, numbers: [1, 2] }))).toEqual({ generation: 4, numbers: [1, 2] });
    expect(decodeOwned(Buffer.alloc(0))).toBeUndefined();
    expect(decodeOwned(Buffer.from("not json"))).toBeUndefined();
  });
});
