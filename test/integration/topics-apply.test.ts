import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TopicSpec } from "../../shared/topics.ts";
import { openHarness, type Harness } from "./harness.ts";

describe("topics as code", () => {
  let harness: Harness;
  const created: string[] = [];

  beforeAll(async () => {
    harness = await openHarness("test-topics");
  });

  afterAll(async () => {
    await harness.admin.deleteTopics(created).catch(() => undefined);
    await harness.close();
  });

  function spec(name: string, partitions: number, retentionMs: number): TopicSpec {
    return {
      name,
      partitions,
      config: { "cleanup.policy": "delete", "retention.ms": String(retentionMs) },
      valueRecord: null,
      role: "main",
    };
  }

  it("applying twice creates once, then reports unchanged", async () => {
    const name = harness.uniqueTopic("apply");
    created.push(name);
    expect(await harness.admin.applyTopics([spec(name, 3, 60_000)])).toEqual([
      { topic: name, action: "created", partitions: 3 },
    ]);
    expect(await harness.admin.applyTopics([spec(name, 3, 60_000)])).toEqual([{ topic: name, action: "unchanged" }]);
    const described = await harness.admin.describeTopic(name, ["retention.ms", "cleanup.policy"]);
    expect(described).toEqual({ partitions: 3, config: { "retention.ms": "60000", "cleanup.policy": "delete" } });
  });

  it("a raised partition count and a changed retention are applied, and a lowered partition count is refused with the reason", async () => {
    const name = harness.uniqueTopic("change");
    created.push(name);
    await harness.admin.applyTopics([spec(name, 2, 60_000)]);

    const [updated] = await harness.admin.applyTopics([spec(name, 4, 120_000)]);
    expect(updated).toEqual({
      topic: name,
      action: "updated",
      changes: ["partitions 2 -> 4", "retention.ms 60000 -> 120000"],
    });
    expect(await harness.admin.describeTopic(name, ["retention.ms"])).toEqual({
      partitions: 4,
      config: { "retention.ms": "120000" },
    });

    const [refused] = await harness.admin.applyTopics([spec(name, 1, 120_000)]);
    expect(refused?.action).toBe("refused");
    expect(refused?.action === "refused" ? refused.reason : "").toMatch(/has 4 partitions, declared 1/);
    expect((await harness.admin.describeTopic(name, [])).partitions).toBe(4);
  });

  it("a held topic's partition count is not raised, with the reason, while other changes of it still apply", async () => {
    const held = harness.uniqueTopic("held");
    const free = harness.uniqueTopic("free");
    created.push(held, free);
    await harness.admin.applyTopics([spec(held, 2, 60_000), spec(free, 2, 60_000)]);
    const hold = { applies: (topic: string) => topic === held, reason: "the cluster holds runs" };
    const results = await harness.admin.applyTopics([spec(held, 4, 60_000), spec(free, 4, 60_000)], {
      holdPartitions: hold,
    });
    expect(results).toEqual([
      { topic: held, action: "refused", reason: "has 2 partitions, declared 4: the cluster holds runs" },
      { topic: free, action: "updated", changes: ["partitions 2 -> 4"] },
    ]);
    expect((await harness.admin.describeTopic(held, [])).partitions).toBe(2);
    expect(await harness.admin.holdsMessages(held)).toBe(false);
    expect(await harness.admin.holdsMessages(harness.uniqueTopic("missing"))).toBe(false);
  });
});
