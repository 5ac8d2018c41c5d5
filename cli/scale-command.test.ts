import { describe, expect, it } from "vitest";
import { formatInstance, formatScaleSummary, parseInstanceCount, parseStageName, scaleJson } from "./scale-command.ts";
import type { ScaleResult, StageProcessStatus } from "./stack/pipeline-processes.ts";
import { maxInstances } from "./stack/stage-instances.ts";

function instance(number: number, pid: number): StageProcessStatus {
  return {
    stage: "executor",
    instance: number,
    legacy: false,
    pid,
    running: true,
    metricsPort: 9466 + 10 * (number - 1),
    pidFile: `/repo/.baton/stack/stages/executor-${number}.pid`,
    logFile: `/repo/.baton/stack/stages/executor-${number}.log`,
  };
}

describe("baton scale arguments", () => {
  it("takes a stage's name and a whole number from 0 to one instance per partition", () => {
    expect(parseStageName("executor")).toBe("executor");
    expect(parseInstanceCount("0")).toBe(0);
    expect(parseInstanceCount("3")).toBe(3);
    expect(parseInstanceCount(String(maxInstances))).toBe(maxInstances);
  });

  it("refuses an unknown stage, naming the stages", () => {
    expect(() => parseStageName("scheduler")).toThrow(/expected one of planner, policy, executor, summarizer, gateway/);
  });

  it("refuses counts that are not whole numbers or out of range, saying which are allowed", () => {
    for (const value of ["-1", "1.5", "two", "", "1e1", String(maxInstances + 1)]) {
      expect(() => parseInstanceCount(value)).toThrow(`expected a whole number from 0 to ${maxInstances}`);
    }
  });
});

describe("baton scale output", () => {
  it("prints an instance's name, pid, metrics port and log relative to the working folder", () => {
    expect(formatInstance(instance(2, 4188), "/repo")).toBe(
      "executor-2  pid 4188  metrics :9476  log .baton/stack/stages/executor-2.log",
    );
  });

  it("sums up what changed, or that nothing had to", () => {
    const two = [instance(1, 4101), instance(2, 4188)];
    const started = [{ ...instance(2, 4188), logOffset: 0 }];
    expect(formatScaleSummary("executor", { instances: two, started, stopped: [] })).toBe(
      "executor: 2 instances running (started 1, stopped 0)",
    );
    expect(formatScaleSummary("executor", { instances: two.slice(0, 1), started: [], stopped: [] })).toBe(
      "executor: 1 instance running; nothing to do",
    );
  });

  it("gives scripts the instances running afterwards and the numbers started and stopped", () => {
    const result: ScaleResult = {
      instances: [instance(1, 4101)],
      started: [],
      stopped: [{ ...instance(3, 4190), running: false, outcome: "terminated" }],
    };
    expect(scaleJson("executor", result)).toEqual({
      stage: "executor",
      instances: [instance(1, 4101)],
      started: [],
      stopped: [3],
    });
  });
});
