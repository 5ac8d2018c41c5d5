import { describe, expect, it } from "vitest";
import {
  concurrentTransactionRetries,
  isConcurrentTransactions,
  retryingConcurrentTransactions,
  type BrokerInternals,
} from "./concurrent-transactions.ts";

/** A request that is refused `refusals` times with `error`, then answers; it records each call. */
function refusedThenAnswered(refusals: number, error: Error) {
  const calls: unknown[] = [];
  const send = function (this: BrokerInternals, request: string): Promise<string> {
    calls.push(request);
    return calls.length <= refusals ? Promise.reject(error) : Promise.resolve(`answer to ${request}`);
  };
  return { send, calls };
}

const concurrent = Object.assign(new Error("another concurrent operation on the same transaction"), {
  type: "CONCURRENT_TRANSACTIONS",
});
const broker = {} as BrokerInternals;

describe("CONCURRENT_TRANSACTIONS retried at the broker request", () => {
  it("sends a refused request again after 1 ms, then 2, 4 …, and answers with the first answer", async () => {
    const { send, calls } = refusedThenAnswered(3, concurrent);
    const slept: number[] = [];
    const before = concurrentTransactionRetries();
    const wrapped = retryingConcurrentTransactions(send, [1, 2, 4, 8], (ms) => {
      slept.push(ms);
      return Promise.resolve();
    });
    await expect(wrapped.call(broker, "add partitions")).resolves.toBe("answer to add partitions");
    expect(calls).toHaveLength(4);
    expect(slept).toEqual([1, 2, 4]);
    expect(concurrentTransactionRetries() - before).toBe(3);
  });

  it("throws any other error at once, without retrying", async () => {
    const fenced = Object.assign(new Error("old epoch"), { type: "INVALID_PRODUCER_EPOCH" });
    const { send, calls } = refusedThenAnswered(1, fenced);
    const wrapped = retryingConcurrentTransactions(send, [1, 2], () => Promise.resolve());
    await expect(wrapped.call(broker, "add offsets")).rejects.toBe(fenced);
    expect(calls).toHaveLength(1);
  });

  it("gives the refusal to kafkajs after the last delay, as before", async () => {
    const { send, calls } = refusedThenAnswered(10, concurrent);
    const wrapped = retryingConcurrentTransactions(send, [1, 2], () => Promise.resolve());
    await expect(wrapped.call(broker, "add partitions")).rejects.toBe(concurrent);
    expect(calls).toHaveLength(3);
  });

  it("tells the refusal by kafkajs's error type", () => {
    expect(isConcurrentTransactions(concurrent)).toBe(true);
    expect(isConcurrentTransactions(new Error("CONCURRENT_TRANSACTIONS"))).toBe(false);
    expect(isConcurrentTransactions(undefined)).toBe(false);
  });
});
