import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StageMetrics, serveMetrics } from "../../shared/telemetry/metrics.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import type { StageRow } from "../../cli/top-view.ts";

const run = promisify(execFile);

describe("baton top shows each instance of a stage with the partitions it owns", () => {
  const endpoints: Array<{ port: number; close: () => Promise<void> }> = [];
  const logger = createLogger({ service: "baton-test-top-instances", level: "silent" });

  beforeAll(async () => {
    const owned = [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11], [3]];
    for (const partitions of owned) {
      const metrics = new StageMetrics("executor");
      for (const partition of [...partitions, 99]) metrics.ownedPartitions.set({ partition: String(partition) }, 1);
      metrics.ownedPartitions.reset();
      for (const partition of partitions) metrics.ownedPartitions.set({ partition: String(partition) }, 1);
      endpoints.push(await serveMetrics({ metrics, port: 0, ready: () => true, logger }));
    }
    // An instance right after a rebalance that left it nothing: the gauge is declared, with no value.
    const idle = new StageMetrics("executor");
    idle.ownedPartitions.set({ partition: "0" }, 1);
    idle.ownedPartitions.reset();
    endpoints.push(await serveMetrics({ metrics: idle, port: 0, ready: () => true, logger }));
  });

  afterAll(async () => {
    for (const endpoint of endpoints) await endpoint.close();
  });

  function top(...args: string[]): Promise<{ stdout: string }> {
    const executors = endpoints.map((endpoint) => `127.0.0.1:${endpoint.port}`).join(",");
    const elsewhere = "127.0.0.1:1";
    return run(
      process.execPath,
      [
        "cli/main.ts",
        "top",
        "--interval",
        "0.2",
        "--executor",
        executors,
        ...["--planner", "--policy", "--summarizer"].flatMap((flag) => [flag, elsewhere]),
        ...args,
      ],
      { timeout: 30_000 },
    );
  }

  it("--json gives each instance's partitions from baton_owned_partitions, and none for one that owns nothing", async () => {
    const { stdout } = await top("--json");
    const executor = (JSON.parse(stdout) as { stages: StageRow[] }).stages.find((row) => row.stage === "executor");
    expect(executor?.instances.map((instance) => instance.ownedPartitions)).toEqual([
      [0, 1, 2, 3, 4, 5],
      [6, 7, 8, 9, 10, 11],
      [3],
      [],
    ]);
    expect(executor?.ownedPartitions).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it("prints a row per instance under the stage's totals row", async () => {
    const { stdout } = await top("--once");
    const lines = stdout.split("\n");
    const at = lines.findIndex((line) => line.startsWith("executor "));
    const [first, second, third, fourth] = endpoints.map((endpoint) => `127\\.0\\.0\\.1:${endpoint.port}`);
    expect(lines[at]).toMatch(/^executor +4\/4 up +0-11 /);
    expect(lines[at + 1]).toMatch(new RegExp(`^  ${first} +up +0-5 `));
    expect(lines[at + 2]).toMatch(new RegExp(`^  ${second} +up +6-11 `));
    expect(lines[at + 3]).toMatch(new RegExp(`^  ${third} +up +3 `));
    expect(lines[at + 4]).toMatch(new RegExp(`^  ${fourth} +up +none `));
  });
});
