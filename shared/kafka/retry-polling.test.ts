import { afterEach, describe, expect, it, vi } from "vitest";
import { RetryPolling } from "./retry-polling.ts";
import { isRetryTopic } from "./retry-routing.ts";

/** A poller over a fake consumer that records which partitions are paused. */
function poller() {
  const paused = new Set<string>();
  const polling = new RetryPolling({
    intervalMs: 1_000,
    isRetryTopic,
    pause: (topic, partition) => paused.add(`${topic}|${partition}`),
    resume: (topic, partition) => paused.delete(`${topic}|${partition}`),
  });
  return { polling, paused };
}

const assignment = {
  "baton.requests": [0, 1],
  "baton.requests.retry.1s": [0, 1],
  "baton.requests.retry.10s": [0, 1],
};

describe("retry polling", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("leaves the retry partitions out of fetches after a join, never the main ones", () => {
    const { polling, paused } = poller();
    polling.follow(assignment);
    expect([...paused].sort()).toEqual([
      "baton.requests.retry.10s|0",
      "baton.requests.retry.10s|1",
      "baton.requests.retry.1s|0",
      "baton.requests.retry.1s|1",
    ]);
  });

  it("puts them in the first fetch that starts after each interval, and out again when it ends", () => {
    vi.useFakeTimers();
    const { polling, paused } = poller();
    polling.follow(assignment);
    polling.start();
    polling.fetchStarting();
    polling.fetchEnded();
    expect(paused.size).toBe(4);
    vi.advanceTimersByTime(1_000);
    expect(paused.size).toBe(0);
    // A fetch that ends without having started since the poll opened (one in flight) changes nothing.
    polling.fetchEnded();
    expect(paused.size).toBe(0);
    polling.fetchStarting();
    expect(paused.size).toBe(0);
    polling.fetchEnded();
    expect(paused.size).toBe(4);
    polling.stop();
    vi.advanceTimersByTime(5_000);
    expect(paused.size).toBe(4);
  });

  it("never resumes a partition flow control holds, and lets go of it when flow control resumes it", () => {
    vi.useFakeTimers();
    const { polling, paused } = poller();
    polling.follow(assignment);
    polling.start();
    polling.hold("baton.requests.retry.1s", 0);
    vi.advanceTimersByTime(1_000);
    expect([...paused]).toEqual(["baton.requests.retry.1s|0"]);
    polling.fetchStarting();
    polling.fetchEnded();
    // Flow control resumes it itself (its head came due): the poller pauses it only at the end of the next poll.
    polling.release("baton.requests.retry.1s", 0);
    paused.delete("baton.requests.retry.1s|0");
    expect(polling.isHeld("baton.requests.retry.1s", 0)).toBe(false);
    vi.advanceTimersByTime(1_000);
    polling.fetchStarting();
    polling.fetchEnded();
    expect(paused.has("baton.requests.retry.1s|0")).toBe(true);
    polling.stop();
  });

  it("ignores holds on main topics and forgets holds of partitions no longer assigned", () => {
    const { polling, paused } = poller();
    polling.hold("baton.requests", 0);
    expect(polling.isHeld("baton.requests", 0)).toBe(false);
    polling.follow(assignment);
    polling.hold("baton.requests.retry.10s", 1);
    polling.follow({ "baton.requests": [0], "baton.requests.retry.10s": [0] });
    expect(polling.isHeld("baton.requests.retry.10s", 1)).toBe(false);
    expect(paused.has("baton.requests.retry.10s|0")).toBe(true);
  });
});
