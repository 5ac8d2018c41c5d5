import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../../shared/telemetry/logger.ts";
import { CronTimer, missedInstants } from "./cron-timer.ts";
import { scheduleOf } from "./trigger-schema.ts";

const logger = createLogger({ service: "test", level: "silent" });

describe("missedInstants", () => {
  const hourly = scheduleOf("0 * * * *", "UTC");
  const now = new Date("2026-11-30T10:30:00Z");

  it("catches up at most `last` instants, oldest first, none older than the window", () => {
    const isos = (dates: Date[]): string[] => dates.map((date) => date.toISOString());
    expect(isos(missedInstants(hourly, now, { last: 3, withinMs: 10 * 3_600_000 }))).toEqual([
      "2026-11-30T08:00:00.000Z",
      "2026-11-30T09:00:00.000Z",
      "2026-11-30T10:00:00.000Z",
    ]);
    expect(isos(missedInstants(hourly, now, { last: 3, withinMs: 2 * 3_600_000 }))).toEqual([
      "2026-11-30T09:00:00.000Z",
      "2026-11-30T10:00:00.000Z",
    ]);
    expect(missedInstants(hourly, now, { last: 0, withinMs: 3_600_000 })).toEqual([]);
    expect(isos(missedInstants(hourly, now, { last: 3, withinMs: 1_000 }))).toEqual([]);
  });

  it("counts only instants after the last one fired", () => {
    const after = new Date("2026-11-30T09:00:00Z");
    expect(missedInstants(hourly, now, { last: 5, withinMs: 86_400_000 }, after).map((d) => d.toISOString())).toEqual([
      "2026-11-30T10:00:00.000Z",
    ]);
  });

  it("follows the trigger's time zone: 08:00 in Berlin is 07:00 UTC in winter", () => {
    const berlin = scheduleOf("0 8 * * *", "Europe/Berlin");
    expect(berlin.nextRun(new Date("2026-11-30T00:00:00Z"))?.toISOString()).toBe("2026-11-30T07:00:00.000Z");
    expect(berlin.nextRun(new Date("2026-07-01T00:00:00Z"))?.toISOString()).toBe("2026-07-01T06:00:00.000Z");
  });
});

describe("CronTimer", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("fires each instant once when it comes, after catching up the latest missed one", async () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-11-30T10:00:01.500Z"));
    const fired: string[] = [];
    const timer = new CronTimer({
      schedule: scheduleOf("*/2 * * * * *", "UTC"),
      catchUp: { last: 1, withinMs: 60_000 },
      logger,
      fire: (instant) => {
        fired.push(instant.toISOString());
        return Promise.resolve();
      },
    });
    timer.start();
    await vi.advanceTimersByTimeAsync(6_000);
    await timer.stop();
    expect(fired).toEqual([
      "2026-11-30T10:00:00.000Z",
      "2026-11-30T10:00:02.000Z",
      "2026-11-30T10:00:04.000Z",
      "2026-11-30T10:00:06.000Z",
    ]);
  });

  it("a fire that fails is logged and the next instant still fires", async () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-11-30T10:00:00.500Z"));
    const fired: string[] = [];
    const timer = new CronTimer({
      schedule: scheduleOf("* * * * * *", "UTC"),
      catchUp: { last: 0, withinMs: 1 },
      logger,
      fire: (instant) => {
        fired.push(instant.toISOString());
        return fired.length === 1 ? Promise.reject(new Error("kafka down")) : Promise.resolve();
      },
    });
    timer.start();
    await vi.advanceTimersByTimeAsync(2_000);
    await timer.stop();
    expect(fired).toEqual(["2026-11-30T10:00:01.000Z", "2026-11-30T10:00:02.000Z"]);
  });

  it("instants that pass while a fire is slow are caught up within the rule, the rest skipped", async () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-11-30T10:00:00.500Z"));
    const fired: string[] = [];
    const timer = new CronTimer({
      schedule: scheduleOf("* * * * * *", "UTC"),
      catchUp: { last: 1, withinMs: 60_000 },
      logger,
      fire: async (instant) => {
        fired.push(instant.toISOString());
        if (fired.length === 2) await new Promise((resolve) => setTimeout(resolve, 5_200));
      },
    });
    timer.start();
    await vi.advanceTimersByTimeAsync(7_000);
    await timer.stop();
    // 10:00:00 caught up at start, 01 slow until 06.2; of 02..06 only 06 is caught up; then 07.
    expect(fired).toEqual([
      "2026-11-30T10:00:00.000Z",
      "2026-11-30T10:00:01.000Z",
      "2026-11-30T10:00:06.000Z",
      "2026-11-30T10:00:07.000Z",
    ]);
  });
});
