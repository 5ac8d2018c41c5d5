// A transaction begun while the coordinator still writes the previous one's commit markers is refused with
// CONCURRENT_TRANSACTIONS until they are written (a few milliseconds; docs/decisions/005). kafkajs handles the
// refusal badly. On AddPartitionsToTxn (a transaction's first send) it runs the produce path's error handling: an
// error log and a full Metadata request for every topic the producer ever wrote, then the whole send again. In a
// broker profile under load, Metadata was 7.4 % of the broker's CPU, next to 6.5 % for AddPartitionsToTxn itself
// (docs/decisions/011). On AddOffsetsToTxn (the first request of a transaction that only commits offsets) it does
// not retry at all, and the chunk fails. This module retries that one refusal where it happens, at the broker
// request, 1 ms after it and doubling, before kafkajs sees it. kafkajs 2.2.4 is its last release, so the internal it
// patches does not move under it; a client swap (decision 001) removes the module with the rest of shared/kafka.
import { createRequire } from "node:module";

/** The part of kafkajs's internal Broker class this module wraps. */
export interface BrokerInternals {
  addPartitionsToTxn: (this: BrokerInternals, request: unknown) => Promise<unknown>;
  addOffsetsToTxn: (this: BrokerInternals, request: unknown) => Promise<unknown>;
}

/** Delays (ms) before each retry of a refused request; after the last, the refusal goes to kafkajs as before. */
export const concurrentTransactionDelaysMs: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128];

let retries = 0;

/** How many refused requests this process retried (for tests and measurements). */
export function concurrentTransactionRetries(): number {
  return retries;
}

/** Whether kafkajs's error is the coordinator's CONCURRENT_TRANSACTIONS refusal. */
export function isConcurrentTransactions(error: unknown): boolean {
  return (error as { type?: unknown } | null)?.type === "CONCURRENT_TRANSACTIONS";
}

/**
 * Wraps a broker request so that a CONCURRENT_TRANSACTIONS refusal is sent again after each of `delaysMs`; any
 * other error, and the refusal after the last delay, is thrown as it came.
 */
export function retryingConcurrentTransactions<Request, Response>(
  send: (this: BrokerInternals, request: Request) => Promise<Response>,
  delaysMs: readonly number[] = concurrentTransactionDelaysMs,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): (this: BrokerInternals, request: Request) => Promise<Response> {
  return async function (this: BrokerInternals, request: Request): Promise<Response> {
    for (const delay of delaysMs) {
      try {
        return await send.call(this, request);
      } catch (error) {
        if (!isConcurrentTransactions(error)) throw error;
        retries += 1;
        await sleep(delay);
      }
    }
    return send.call(this, request);
  };
}

let installed = false;

/** Makes kafkajs's brokers retry CONCURRENT_TRANSACTIONS refusals of AddPartitionsToTxn and AddOffsetsToTxn; idempotent. */
export function installConcurrentTransactionRetry(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const { prototype } = require("kafkajs/src/broker/index.js") as { prototype: BrokerInternals };
  prototype.addPartitionsToTxn = retryingConcurrentTransactions(prototype.addPartitionsToTxn);
  prototype.addOffsetsToTxn = retryingConcurrentTransactions(prototype.addOffsetsToTxn);
}
