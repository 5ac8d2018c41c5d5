import { describe, expect, it } from "vitest";
import { mkdtemp, rmdir, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withFileLock } from "./file-lock.ts";

describe("withFileLock", () => {
  it("work finished after a waiter took its lock for stale still returns its result, and the lock is gone", async () => {
    const lockPath = join(await mkdtemp(join(tmpdir(), "baton-lock-")), "tickets.lock");
    const result = await withFileLock(lockPath, async () => {
      await rmdir(lockPath);
      return "ticket written";
    });
    expect(result).toBe("ticket written");
    await expect(stat(lockPath)).rejects.toThrow(/ENOENT/);
  });

  it("two holders never overlap", async () => {
    const lockPath = join(await mkdtemp(join(tmpdir(), "baton-lock-")), "tickets.lock");
    let inside = 0;
    let most = 0;
    const hold = () =>
      withFileLock(lockPath, async () => {
        inside += 1;
        most = Math.max(most, inside);
        await new Promise((resolve) => setTimeout(resolve, 10));
        inside -= 1;
      });
    await Promise.all([hold(), hold(), hold()]);
    expect(most).toBe(1);
  });
});
