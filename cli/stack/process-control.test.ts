import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isOwnedProcess, isProcessAlive, ownershipFlag, spawnDetached, stopProcess } from "./process-control.ts";
import { waitUntil } from "./wait-until.ts";

async function startSleeper(script: string, name: string): Promise<{ pid: number; logFile: string }> {
  const dir = await mkdtemp(join(tmpdir(), "baton-process-"));
  const logFile = join(dir, "output.log");
  const pid = await spawnDetached(process.execPath, ["-e", script, "--", ownershipFlag(name)], { cwd: dir, logFile });
  return { pid, logFile };
}

describe("detached processes", { timeout: 15_000 }, () => {
  it("starts a process that logs to a file, recognises it as ours, and stops it with SIGTERM", async () => {
    const { pid, logFile } = await startSleeper("console.log('up'); setInterval(() => {}, 1000)", "test-service");
    expect(isProcessAlive(pid)).toBe(true);
    expect(await isOwnedProcess(pid, "test-service")).toBe(true);
    expect(await isOwnedProcess(pid, "other-service")).toBe(false);
    expect(
      await waitUntil(async () => (await readFile(logFile, "utf8")).includes("up"), {
        timeoutMs: 5_000,
        intervalMs: 50,
      }),
    ).toBe(true);
    expect(await stopProcess(pid, 5_000)).toBe("terminated");
    expect(isProcessAlive(pid)).toBe(false);
  });

  it("kills a process that ignores SIGTERM once the grace period is over", async () => {
    const { pid, logFile } = await startSleeper(
      "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000)",
      "stubborn-service",
    );
    await waitUntil(async () => (await readFile(logFile, "utf8")).includes("ready"), {
      timeoutMs: 5_000,
      intervalMs: 50,
    });
    expect(await stopProcess(pid, 300)).toBe("killed");
    expect(isProcessAlive(pid)).toBe(false);
  });

  it("reports a process that is already gone", async () => {
    const { pid } = await startSleeper("process.exit(0)", "short-lived");
    await waitUntil(() => !isProcessAlive(pid), { timeoutMs: 5_000, intervalMs: 20 });
    expect(await stopProcess(pid, 100)).toBe("already-gone");
    expect(await isOwnedProcess(pid, "short-lived")).toBe(false);
  });

  it("fails to start a command that does not exist", async () => {
    const dir = await mkdtemp(join(tmpdir(), "baton-process-"));
    await expect(spawnDetached("/nonexistent/java", [], { cwd: dir, logFile: join(dir, "out.log") })).rejects.toThrow();
  });
});
