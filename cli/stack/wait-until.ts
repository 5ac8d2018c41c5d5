import { setTimeout as sleep } from "node:timers/promises";

/** How long and how often to poll. */
export interface WaitOptions {
  timeoutMs: number;
  intervalMs: number;
}

/** Polls `condition` until it holds (true) or the time is up (false); the condition always runs at least once. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, options: WaitOptions): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(options.intervalMs, Math.max(0, deadline - Date.now())));
  }
}
