import { describe, expect, it } from "vitest";
import { ToolGuard } from "./tool-guard.ts";
import type { ToolCallOutcome } from "./mcp-connections.ts";
import type { ServerLimits, ToolSettings } from "./servers-file.ts";

const success: ToolCallOutcome = { status: "SUCCEEDED", output: "{}" };

/** Runs `count` calls of each tool at once through the guard; returns when each call started (ms from the start). */
async function startTimes(guard: ToolGuard, tools: string[], count: number, workMs = 0): Promise<number[]> {
  const started = performance.now();
  const starts: number[] = [];
  await Promise.all(
    tools.flatMap((tool) =>
      Array.from({ length: count }, () =>
        guard.run(tool, async () => {
          starts.push(performance.now() - started);
          await new Promise((resolve) => setTimeout(resolve, workMs));
          return success;
        }),
      ),
    ),
  );
  return starts.sort((a, b) => a - b);
}

describe("ToolGuard", () => {
  it("a tool's rate limit starts no more calls per second than it allows; the rest wait their turn", async () => {
    const settings: Record<string, ToolSettings> = { "kb/search": { ratePerSecond: 4 } };
    const guard = new ToolGuard((tool) => settings[tool] ?? {});
    const starts = await startTimes(guard, ["kb/search"], 10);
    expect(starts).toHaveLength(10);
    // 4 now, 4 a second later, 2 after two seconds: at most 4 in any first second.
    expect(starts.filter((at) => at < 900).length).toBeLessThanOrEqual(4);
    expect(starts.filter((at) => at < 1_900).length).toBeLessThanOrEqual(8);
    expect(starts.at(-1)).toBeGreaterThanOrEqual(1_900);
  });

  it("a server's rate limit is shared by all its tools", async () => {
    const limits: Record<string, ServerLimits> = { kb: { ratePerSecond: 3 } };
    const guard = new ToolGuard(
      () => ({}),
      (tool) => limits[tool.split("/")[0] ?? ""] ?? {},
    );
    const starts = await startTimes(guard, ["kb/search", "kb/get_article"], 3);
    expect(starts).toHaveLength(6);
    expect(starts.filter((at) => at < 900).length).toBeLessThanOrEqual(3);
    expect(starts.at(-1)).toBeGreaterThanOrEqual(900);
  });

  it("a server's concurrency limit holds across its tools, and other servers are not held back", async () => {
    const limits: Record<string, ServerLimits> = { kb: { concurrency: 1 } };
    const guard = new ToolGuard(
      () => ({}),
      (tool) => limits[tool.split("/")[0] ?? ""] ?? {},
    );
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    const call = (tool: string) =>
      guard.run(tool, async () => {
        const server = tool.split("/")[0] ?? "";
        running.set(server, (running.get(server) ?? 0) + 1);
        most.set(server, Math.max(most.get(server) ?? 0, running.get(server) ?? 0));
        await new Promise((resolve) => setTimeout(resolve, 20));
        running.set(server, (running.get(server) ?? 0) - 1);
        return success;
      });
    await Promise.all(
      ["kb/search", "kb/get_article", "ticketing/create", "ticketing/get"].flatMap((tool) => [call(tool), call(tool)]),
    );
    expect(most.get("kb")).toBe(1);
    expect(most.get("ticketing")).toBe(4);
  });

  it("two executors each owning half the partitions together keep a tool's rate limit", async () => {
    const settings: Record<string, ToolSettings> = { "kb/search": { ratePerSecond: 4 } };
    const executors = [0, 1].map(() => new ToolGuard((tool) => settings[tool] ?? {}));
    for (const guard of executors) guard.share(6, 12);
    const [first, second] = await Promise.all(executors.map((guard) => startTimes(guard, ["kb/search"], 4)));
    const starts = [...(first ?? []), ...(second ?? [])].sort((a, b) => a - b);
    expect(starts).toHaveLength(8);
    // 2 a second each, 4 a second together: at most 4 in the first second, the last after a second.
    expect(starts.filter((at) => at < 900).length).toBeLessThanOrEqual(4);
    expect(starts.at(-1)).toBeGreaterThanOrEqual(900);
  });

  it("an executor's share of a concurrency limit is rounded down, and one call still runs on a share below one", async () => {
    const settings: Record<string, ToolSettings> = { "kb/search": { concurrency: 4 }, "kb/get": { concurrency: 1 } };
    const guard = new ToolGuard((tool) => settings[tool] ?? {});
    guard.share(4, 12);
    let running = 0;
    const most = new Map<string, number>();
    const call = (tool: string) =>
      guard.run(tool, async () => {
        running += 1;
        most.set(tool, Math.max(most.get(tool) ?? 0, running));
        await new Promise((resolve) => setTimeout(resolve, 20));
        running -= 1;
        return success;
      });
    await Promise.all(Array.from({ length: 6 }, () => call("kb/search")));
    await Promise.all(Array.from({ length: 3 }, () => call("kb/get")));
    expect(most.get("kb/search")).toBe(1);
    expect(most.get("kb/get")).toBe(1);
    guard.share(12, 12);
    running = 0;
    most.clear();
    await Promise.all(Array.from({ length: 6 }, () => call("kb/search")));
    expect(most.get("kb/search")).toBe(4);
  });
});
