import { describe, expect, it } from "vitest";
import {
  hasInstanceTags,
  instanceArguments,
  instanceFileNames,
  instanceHttpPort,
  instanceMetricsPort,
  maxInstances,
  parsePidFileName,
  planScale,
} from "./stage-instances.ts";

describe("instance files", () => {
  it("names instance i's files <stage>-<i> and reads them back", () => {
    expect(instanceFileNames("executor", 3)).toEqual({ pidFile: "executor-3.pid", logFile: "executor-3.log" });
    expect(parsePidFileName("executor-3.pid")).toEqual({ stage: "executor", instance: 3, legacy: false });
    expect(parsePidFileName("summarizer-12.pid")).toEqual({ stage: "summarizer", instance: 12, legacy: false });
  });

  it("reads the pid file of the single instance older code started as a legacy instance 1", () => {
    expect(parsePidFileName("planner.pid")).toEqual({ stage: "planner", instance: 1, legacy: true });
  });

  it("ignores logs, unknown stages and malformed instance numbers", () => {
    for (const name of ["executor-1.log", "scheduler-1.pid", "executor-0.pid", "executor-01.pid", "executor-x.pid"]) {
      expect(parsePidFileName(name)).toBeUndefined();
    }
  });
});

describe("instanceMetricsPort", () => {
  it("gives instance 1 the stage's default port and each next one 10 more, never another stage's", () => {
    expect(instanceMetricsPort("planner", 1)).toBe(9464);
    expect(instanceMetricsPort("executor", 1)).toBe(9466);
    expect(instanceMetricsPort("executor", 2)).toBe(9476);
    expect(instanceMetricsPort("summarizer", 3)).toBe(9487);
    const ports = (["planner", "policy", "executor", "summarizer"] as const).flatMap((stage) =>
      Array.from({ length: maxInstances }, (_, index) => instanceMetricsPort(stage, index + 1)),
    );
    expect(new Set(ports).size).toBe(ports.length);
  });
});

describe("hasInstanceTags", () => {
  const argv = (stage: "executor" | "planner", instance: number): string[] => [
    "/usr/bin/node",
    "cli/main.ts",
    stage,
    ...instanceArguments(stage, instance),
  ];

  it("recognises an instance by its stage and number, and never instance 1 as instance 12 or the reverse", () => {
    expect(hasInstanceTags(argv("executor", 1), { stage: "executor", instance: 1, legacy: false })).toBe(true);
    expect(hasInstanceTags(argv("executor", 12), { stage: "executor", instance: 1, legacy: false })).toBe(false);
    expect(hasInstanceTags(argv("executor", 1), { stage: "executor", instance: 12, legacy: false })).toBe(false);
    expect(hasInstanceTags(argv("planner", 1), { stage: "executor", instance: 1, legacy: false })).toBe(false);
  });

  it("recognises a legacy instance by its stage tag alone, and no numbered instance as legacy", () => {
    const legacy = ["/usr/bin/node", "cli/main.ts", "executor", "--tag", "baton.stage=executor"];
    expect(hasInstanceTags(legacy, { stage: "executor", instance: 1, legacy: true })).toBe(true);
    expect(hasInstanceTags(legacy, { stage: "executor", instance: 1, legacy: false })).toBe(false);
    expect(hasInstanceTags(argv("executor", 1), { stage: "executor", instance: 1, legacy: true })).toBe(false);
  });
});

describe("planScale", () => {
  const running = (...numbers: number[]) => numbers.map((instance) => ({ instance, legacy: false }));

  it("starts the lowest free numbers", () => {
    expect(planScale(running(), 2)).toEqual({ start: [1, 2], stop: [] });
    expect(planScale(running(1, 3), 4)).toEqual({ start: [2, 4], stop: [] });
  });

  it("stops the highest numbers first", () => {
    expect(planScale(running(1, 2, 3, 4), 1).stop.map((instance) => instance.instance)).toEqual([4, 3, 2]);
    expect(planScale(running(2, 1), 0).stop.map((instance) => instance.instance)).toEqual([2, 1]);
  });

  it("does nothing when as many run as asked", () => {
    expect(planScale(running(1, 2), 2)).toEqual({ start: [], stop: [] });
  });

  it("counts a legacy instance as number 1: new ones start from 2, and it stops last", () => {
    const withLegacy = [{ instance: 1, legacy: true }, ...running(2)];
    expect(planScale([{ instance: 1, legacy: true }], 3).start).toEqual([2, 3]);
    expect(planScale(withLegacy, 0).stop).toEqual([
      { instance: 2, legacy: false },
      { instance: 1, legacy: true },
    ]);
  });
});

describe("instanceHttpPort", () => {
  it("gives gateway instance 1 port 8080 and the next ones ports clear of the schema registry's 8081", () => {
    expect([1, 2, 3].map(instanceHttpPort)).toEqual([8080, 8090, 8100]);
  });
});
