import { execFile } from "node:child_process";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StageMetrics, serveMetrics } from "../../shared/telemetry/metrics.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import { scrapeStage } from "../../cli/top-command.ts";
import { announceEndpoint, localEndpoints } from "../../shared/telemetry/local-endpoints.ts";
import { stageRow, type StageRow } from "../../cli/top-view.ts";

const run = promisify(execFile);

/** A port nothing listens on: taken from the OS, then let go. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("baton top against a stage's real metrics endpoint", () => {
  let metrics: StageMetrics;
  let endpoint: { port: number; close: () => Promise<void> };
  let url: string;

  beforeAll(async () => {
    metrics = new StageMetrics("executor");
    endpoint = await serveMetrics({
      metrics,
      port: 0,
      ready: () => true,
      logger: createLogger({ service: "baton-test-top", level: "silent" }),
    });
    url = `http://127.0.0.1:${endpoint.port}/metrics`;
    metrics.retries.inc({ topic: "baton.allowed-calls" }, 2);
    metrics.deadLetters.inc({ topic: "baton.allowed-calls" });
    metrics.consumerLag.set({ topic: "baton.allowed-calls", partition: "0" }, 5);
    metrics.consumerLag.set({ topic: "baton.allowed-calls", partition: "1" }, 3);
    metrics.breakerOpen.set({ tool: "tickets.create" }, 1);
    metrics.breakerOpen.set({ tool: "kb.search" }, 0);
  });

  afterAll(async () => {
    await endpoint.close();
  });

  it("measures throughput and p99 from what the stage handled between two scrapes", async () => {
    const before = await scrapeStage("executor", [url], 2_000);
    for (let index = 0; index < 40; index += 1) {
      metrics.messagesIn.inc({ topic: "baton.allowed-calls" });
      metrics.processingSeconds.observe({ topic: "baton.allowed-calls" }, index < 30 ? 0.02 : 0.4);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await scrapeStage("executor", [url], 2_000);

    const row = stageRow(before, after);
    const seconds = (after.at - before.at) / 1_000;
    expect(row.state).toBe("up");
    expect(row.messagesPerSecond).toBeCloseTo(40 / seconds, 5);
    expect(row.p99Over).toBe("interval");
    expect(row.p99Ms).toBeGreaterThan(250);
    expect(row.p99Ms).toBeLessThanOrEqual(500);
  });

  it("prints one frame as JSON with --once --json: the stage's numbers, and the stages that do not answer as down", async () => {
    const feeding = setInterval(() => metrics.messagesIn.inc({ topic: "baton.allowed-calls" }, 5), 50);
    const down = `127.0.0.1:${await closedPort()}`;
    try {
      const { stdout } = await run(
        process.execPath,
        [
          "cli/main.ts",
          "top",
          "--once",
          "--json",
          "--interval",
          "1",
          "--executor",
          `127.0.0.1:${endpoint.port}`,
          "--planner",
          down,
          "--policy",
          down,
          "--summarizer",
          `${down},127.0.0.1:${endpoint.port}`,
        ],
        { timeout: 30_000 },
      );
      const frame = JSON.parse(stdout) as { intervalSeconds: number; stages: StageRow[] };
      expect(frame.intervalSeconds).toBe(1);
      expect(frame.stages.map((stage) => [stage.stage, stage.state])).toEqual([
        ["planner", "down"],
        ["policy", "down"],
        ["executor", "up"],
        ["summarizer", "partial"],
      ]);
      const executor = frame.stages.find((stage) => stage.stage === "executor");
      expect(executor).toMatchObject({
        consumerLag: 8,
        retries: 2,
        deadLetters: 1,
        openBreakers: ["tickets.create"],
        failures: {},
      });
      expect(executor?.messagesPerSecond).toBeGreaterThan(0);
      expect(executor?.p99Ms).toBeGreaterThan(0);
      expect(frame.stages[0]?.failures).toEqual({ [`http://${down}/metrics`]: "ECONNREFUSED" });
    } finally {
      clearInterval(feeding);
    }
  });

  it("without a flag for a stage, reads every instance of it announced on this machine", async () => {
    const down = `127.0.0.1:${await closedPort()}`;
    const withdraw = await announceEndpoint({ stage: "executor", port: endpoint.port });
    try {
      const { stdout } = await run(
        process.execPath,
        [
          "cli/main.ts",
          "top",
          "--json",
          "--interval",
          "0.5",
          ...["--planner", "--policy", "--summarizer"].flatMap((flag) => [flag, down]),
        ],
        { timeout: 30_000 },
      );
      const executor = (JSON.parse(stdout) as { stages: StageRow[] }).stages.find((row) => row.stage === "executor");
      // Executors of a running demo announce themselves too; the one announced here always answers.
      const announced = (await localEndpoints()).filter((entry) => entry.stage === "executor");
      expect(announced.map((entry) => entry.url)).toContain(url);
      expect(executor?.endpoints).toBe(announced.length);
      expect(executor?.answered).toBeGreaterThanOrEqual(1);
      expect(Object.keys(executor?.failures ?? {})).not.toContain(url);
      expect(executor?.retries).toBeGreaterThanOrEqual(2);
    } finally {
      await withdraw();
    }
  });

  it("prints one frame for people with --once, exiting 0 even when no stage answers", async () => {
    const down = `127.0.0.1:${await closedPort()}`;
    const { stdout } = await run(
      process.execPath,
      [
        "cli/main.ts",
        "top",
        "--once",
        "--interval",
        "0.2",
        ...["--planner", "--policy", "--executor", "--summarizer"].flatMap((flag) => [flag, down]),
      ],
      { timeout: 30_000 },
    );
    expect(stdout).not.toContain("\x1b[");
    expect(stdout).toMatch(/^baton top {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}every 0\.2s\n/);
    expect(stdout).toMatch(/\nexecutor +down +- +- +- +- +- +-\n/);
    expect(stdout).toContain("start the stages with `npm run demo` or `baton <stage>`");
  });
});
