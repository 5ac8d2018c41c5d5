import { describe, it, expect } from "vitest";
import { readFile } from "node:fs/promises";
import {
  deadLetterRetentionMs,
  expandTopics,
  replayRetentionMs,
  retryTopicName,
  deadLetterTopicName,
  stageInputs,
  stageInputTopics,
  stateRetentionMs,
  topics,
  type TopicDeclaration,
} from "./topics.ts";

const day = 24 * 60 * 60 * 1000;

const orders: TopicDeclaration = {
  name: "baton.orders",
  description: "test topic",
  partitions: 3,
  retentionMs: 2 * day,
  cleanupPolicy: "compact",
  valueRecord: "baton.Request",
  retryDelaysMs: [1_000, 10_000, 60_000],
  deadLetter: true,
};

describe("expandTopics", () => {
  it("a declaration with three retry delays and a dead letter yields main, three retry topics and a dlq in order", () => {
    const specs = expandTopics([orders]);
    expect(specs.map((spec) => [spec.name, spec.role])).toEqual([
      ["baton.orders", "main"],
      ["baton.orders.retry.1s", "retry"],
      ["baton.orders.retry.10s", "retry"],
      ["baton.orders.retry.1m", "retry"],
      ["baton.orders.dlq", "dead-letter"],
    ]);
  });

  it("every expanded topic has the declaration's partitions so keys keep their order across retries", () => {
    for (const spec of expandTopics([orders])) expect(spec.partitions).toBe(orders.partitions);
  });

  it("main and retry topics carry the declared value record, the dead letter carries none (raw bytes)", () => {
    const byRole = Object.groupBy(expandTopics([orders]), (spec) => spec.role);
    for (const spec of [...(byRole.main ?? []), ...(byRole.retry ?? [])])
      expect(spec.valueRecord).toBe(orders.valueRecord);
    expect(byRole["dead-letter"]?.map((spec) => spec.valueRecord)).toEqual([null]);
  });

  it("the main topic uses the declared cleanup policy and retention; retry and dead-letter topics are deleted on age", () => {
    const [main, ...rest] = expandTopics([orders]);
    expect(main?.config).toEqual({
      "cleanup.policy": orders.cleanupPolicy,
      "retention.ms": String(orders.retentionMs),
    });
    for (const spec of rest) expect(spec.config["cleanup.policy"]).toBe("delete");
    const dlq = rest.find((spec) => spec.role === "dead-letter");
    const retries = rest.filter((spec) => spec.role === "retry");
    for (const retry of retries)
      expect(Number(dlq?.config["retention.ms"])).toBeGreaterThan(Number(retry.config["retention.ms"]));
  });

  it("a declaration without retries or dead letter yields only its main topic", () => {
    const specs = expandTopics([{ ...orders, retryDelaysMs: [], deadLetter: false }]);
    expect(specs.map((spec) => spec.name)).toEqual([orders.name]);
  });
});

describe("retry and dead-letter names", () => {
  it.each([
    [500, "500ms"],
    [1_500, "1500ms"],
    [1_000, "1s"],
    [10_000, "10s"],
    [90_000, "90s"],
    [60_000, "1m"],
    [120_000, "2m"],
  ])("a delay of %i ms is labelled %s", (delayMs, label) => {
    expect(retryTopicName("baton.requests", delayMs)).toBe(`baton.requests.retry.${label}`);
  });

  it("the dead letter of a topic is <topic>.dlq", () => {
    expect(deadLetterTopicName("baton.tool-calls")).toBe("baton.tool-calls.dlq");
  });
});

describe("the shipped topic list", () => {
  it("names every topic baton.<plural-noun> in lowercase words joined by dashes", () => {
    expect(topics.length).toBeGreaterThan(0);
    for (const { name } of topics) expect(name).toMatch(/^baton\.[a-z]+(?:-[a-z]+)*s$/);
  });

  it("has no two concrete topics with the same name after expansion", () => {
    const names = expandTopics(topics).map((spec) => spec.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it("gives every concrete topic a name Kafka accepts", () => {
    for (const { name } of expandTopics(topics)) {
      expect(name).toMatch(/^[a-zA-Z0-9._-]+$/);
      expect(name.length).toBeLessThanOrEqual(249);
    }
  });

  it("declares retry delays shortest first and at least one partition", () => {
    for (const declaration of topics) {
      expect(declaration.partitions).toBeGreaterThan(0);
      expect([...declaration.retryDelaysMs]).toEqual([...declaration.retryDelaysMs].sort((a, b) => a - b));
    }
  });
});

describe("retention", () => {
  const inputs = Object.keys(stageInputs).flatMap((stage) =>
    stageInputTopics(stage as keyof typeof stageInputs).flatMap((topic) =>
      topics.some((declaration) => declaration.name === topic && declaration.deadLetter)
        ? [topic, deadLetterTopicName(topic)]
        : [topic],
    ),
  );
  const retentionOf = (name: string): number =>
    Number(expandTopics(topics).find((spec) => spec.name === name)?.config["retention.ms"]);

  it("keeps run state and idempotency records longer than anything that can bring a request or call back", () => {
    expect(stateRetentionMs).toBeGreaterThan(deadLetterRetentionMs);
    expect(stateRetentionMs).toBeGreaterThan(replayRetentionMs);
    expect(inputs.length).toBeGreaterThan(10);
    for (const topic of inputs) {
      const retention = retentionOf(topic);
      expect(retention, topic).toBeGreaterThan(0);
      expect(retention, topic).toBeLessThan(stateRetentionMs);
    }
    for (const topic of ["baton.runs", "baton.tool-outcomes", "baton.tool-intents"])
      expect(retentionOf(topic), topic).toBe(stateRetentionMs);
  });

  it("keeps the per-request topics and dead letters for the replay retention", () => {
    for (const topic of ["baton.requests", "baton.tool-calls", "baton.tool-results", "baton.responses"])
      expect(retentionOf(topic), topic).toBe(replayRetentionMs);
    expect(retentionOf("baton.allowed-calls.dlq")).toBe(deadLetterRetentionMs);
  });
});

describe("stage inputs", () => {
  it.each(Object.entries(stageInputs))(
    "%s consumes the topics declared for it in its main.ts",
    async (stage, declared) => {
      const source = await readFile(new URL(`../services/${stage}/main.ts`, import.meta.url), "utf8");
      const consumed = /\btopics: \[([^\]]*)\]/.exec(source)?.[1];
      expect(consumed?.split(",").map((name) => name.trim().replace(/^"|"$/g, ""))).toEqual([...declared]);
    },
  );

  it("a stage's group reads its inputs and their retry topics", () => {
    expect(stageInputTopics("executor")).toEqual([
      "baton.allowed-calls",
      "baton.allowed-calls.retry.1s",
      "baton.allowed-calls.retry.10s",
      "baton.allowed-calls.retry.1m",
    ]);
  });
});
