import { mkdir, rmdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** Options for {@link withFileLock}. */
export interface FileLockOptions {
  /** How long to keep trying before giving up. */
  timeoutMs?: number;
  /** A lock older than this is taken to be left by a dead process and removed. */
  staleMs?: number;
}

/**
 * Runs `work` while holding a lock shared by every process using the same `lockPath` (a directory, since
 * creating one is atomic), so that reading the last id and appending the next one cannot interleave.
 */
export async function withFileLock<Result>(
  lockPath: string,
  work: () => Promise<Result>,
  options: FileLockOptions = {},
): Promise<Result> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const staleMs = options.staleMs ?? 30_000;
  await mkdir(dirname(lockPath), { recursive: true });
  for (;;) {
    try {
      await mkdir(lockPath);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const held = await stat(lockPath).catch(() => undefined);
      if (held !== undefined && Date.now() - held.mtimeMs > staleMs) {
        // Another waiter may have removed the stale lock and taken a new one meanwhile: remove only the stale one.
        const again = await stat(lockPath).catch(() => undefined);
        if (again?.mtimeMs === held.mtimeMs) await rmdir(lockPath).catch(() => undefined);
      }
      if (Date.now() > deadline) throw new Error(`could not take the lock ${lockPath} in time`, { cause: error });
      await sleep(5);
    }
  }
  try {
    return await work();
  } finally {
    // Gone already if a waiter took it for stale (this holder outlived staleMs): the work is done either way.
    await rmdir(lockPath).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    });
  }
}
