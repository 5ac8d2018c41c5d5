import type { BatonError } from "../errors.ts";
import { deadLetterTopicName, retryTopicName } from "../topics.ts";
import { deadLetterHeaders, type TextHeaders } from "./headers.ts";

/** Headers Baton writes on a message it sends to a retry topic (next to the original headers). */
export const retryHeaders = {
  attempt: "baton-attempt",
  firstFailedAt: "baton-first-failed-at",
  lastError: "baton-last-error",
  retryAt: "baton-retry-at",
} as const;

const retrySuffix = /\.retry\.\d+(?:ms|s|m)$/;

/** The topic a message first came from: `baton.requests` for `baton.requests.retry.10s`. */
export function originTopic(topic: string): string {
  return topic.replace(retrySuffix, "");
}

/** Whether a topic is a retry topic. */
export function isRetryTopic(topic: string): boolean {
  return retrySuffix.test(topic);
}

/** Which attempt this delivery is (1 for a message straight from its main topic). */
export function attemptOf(headers: TextHeaders): number {
  const attempt = Number(headers[retryHeaders.attempt] ?? "1");
  return Number.isInteger(attempt) && attempt >= 1 ? attempt : 1;
}

/** When a retried message is due, in epoch milliseconds (0 when it is due now). */
export function dueAt(headers: TextHeaders): number {
  const at = Number(headers[retryHeaders.retryAt] ?? "0");
  return Number.isFinite(at) ? at : 0;
}

/** Where a failed message goes next, with the headers it carries there. */
export interface FailureRoute {
  topic: string;
  headers: TextHeaders;
  kind: "retry" | "dead-letter";
}

/**
 * Routes a failed message: a retriable failure with rungs left on the ladder goes to the retry topic of the
 * next delay, with its attempt count, first-failure time, last error and origin; anything else goes to the
 * origin's dead-letter topic with the reason.
 */
export function routeFailure(options: {
  error: BatonError;
  stage: string;
  topic: string;
  partition: number;
  offset: string;
  headers: TextHeaders;
  /** The stage's (or the failing tool's) delays; attempt n waits delaysMs[n-1]. */
  delaysMs: readonly number[];
  now: number;
}): FailureRoute {
  const { error, headers, now } = options;
  const origin = originTopic(options.topic);
  const attempt = attemptOf(headers);
  const firstFailedAt = headers[retryHeaders.firstFailedAt] ?? new Date(now).toISOString();
  const originHeaders = {
    [deadLetterHeaders.originTopic]: headers[deadLetterHeaders.originTopic] ?? origin,
    [deadLetterHeaders.originPartition]: headers[deadLetterHeaders.originPartition] ?? String(options.partition),
    [deadLetterHeaders.originOffset]: headers[deadLetterHeaders.originOffset] ?? options.offset,
  };
  const delay = options.delaysMs[attempt - 1];
  if (error.retriable && delay !== undefined) {
    const wait = Math.max(delay, error.retryAfterMs ?? 0);
    return {
      kind: "retry",
      topic: retryTopicName(origin, delay),
      headers: {
        ...headers,
        ...originHeaders,
        [retryHeaders.attempt]: String(attempt + 1),
        [retryHeaders.firstFailedAt]: firstFailedAt,
        [retryHeaders.lastError]: `${error.code}: ${error.message}`,
        [retryHeaders.retryAt]: String(now + wait),
      },
    };
  }
  const reason = error.retriable && attempt > 1 ? `gave up after ${attempt} attempts: ${error.message}` : error.message;
  return {
    kind: "dead-letter",
    topic: deadLetterTopicName(origin),
    headers: {
      ...headers,
      ...originHeaders,
      [retryHeaders.attempt]: String(attempt),
      [retryHeaders.firstFailedAt]: firstFailedAt,
      [deadLetterHeaders.reason]: reason,
      [deadLetterHeaders.code]: error.code,
      [deadLetterHeaders.stage]: options.stage,
      [deadLetterHeaders.failedAt]: new Date(now).toISOString(),
    },
  };
}

/** Headers that mark a redriven message: where it was dead-lettered and when it was sent back. */
export const redriveHeaders = {
  from: "baton-redriven-from",
  at: "baton-redriven-at",
} as const;

/**
 * The headers a dead letter goes back to its origin with, as a new first attempt: the failure and retry
 * headers are dropped, the trace context is kept, and the dead letter it came from is named.
 */
export function redrivenHeaders(
  headers: TextHeaders,
  from: { topic: string; partition: number; offset: string },
  now: number,
): TextHeaders {
  const dropped = new Set<string>([...Object.values(deadLetterHeaders), ...Object.values(retryHeaders)]);
  const kept = Object.fromEntries(Object.entries(headers).filter(([name]) => !dropped.has(name)));
  return {
    ...kept,
    [redriveHeaders.from]: `${from.topic}/${from.partition}/${from.offset}`,
    [redriveHeaders.at]: new Date(now).toISOString(),
  };
}
