import type { OutgoingMessage } from "../shared/kafka/producer.ts";

/** What one open-loop step sends, and where its answers are awaited. */
export interface OpenLoopStep {
  /** Requests per second of the schedule. */
  rate: number;
  durationMs: number;
  /** How long after the last send an unanswered request still counts as answered (later ones are lost). */
  drainMs: number;
  /** The message of send slot `index`; its key is what {@link OpenLoopStep.awaitAnswer} waits for. */
  message: (index: number) => OutgoingMessage;
  /** Resolves when the answer for `key` arrives (rejects when it never does within `timeoutMs`). */
  awaitAnswer: (key: string, timeoutMs: number) => Promise<unknown>;
  /** Sends the messages due at one moment, as one produce request. */
  send: (messages: OutgoingMessage[]) => Promise<void>;
}

/** What an open-loop step measured. */
export interface OpenLoopResult {
  rate: number;
  sent: number;
  answered: number;
  lost: number;
  sendErrors: number;
  /** Requests scheduled per second of the schedule actually kept (sent / time from the first slot to the last send). */
  achievedRate: number;
  /** Latency in ms from each answered request's intended send time, ascending. */
  latencies: number[];
  /** How late the sender was against the schedule, p99 in ms (the benchmark's own lag). */
  sendLagP99: number;
  /** From the last send to the last answer, ms (NaN when nothing was answered). */
  drainedMs: number;
  /** Answers per second over the step, from the first slot to the last answer. */
  answersPerSecond: number;
  /** Wall time of the step in ms, schedule and drain. */
  elapsedMs: number;
}

/** The value at percentile `p` (0-100) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends on a fixed schedule whatever the answers do (open loop): slot `i` is due at `start + i / rate`; the sender
 * sleeps until the next slot, then sends every slot that is due in one produce request, without awaiting it.
 * Latency counts from each slot's intended time, so a sender or system that falls behind shows it (no coordinated
 * omission).
 */
export async function runOpenLoop(step: OpenLoopStep): Promise<OpenLoopResult> {
  const total = Math.round((step.rate * step.durationMs) / 1000);
  const interval = 1000 / step.rate;
  const latencies: number[] = [];
  const lags: number[] = [];
  const answers: Array<Promise<void>> = [];
  const sends: Array<Promise<void>> = [];
  let answered = 0;
  let lastAnswer = Number.NaN;
  let sendErrors = 0;
  let lastSend = 0;
  let finished = false;
  let drainDeadline = Number.POSITIVE_INFINITY;
  const start = performance.now() + 5;
  for (let next = 0; next < total;) {
    const now = performance.now();
    const due: OutgoingMessage[] = [];
    while (next < total && start + next * interval <= now) {
      const intended = start + next * interval;
      const message = step.message(next);
      lags.push(now - intended);
      answers.push(
        step.awaitAnswer(message.key, step.durationMs + step.drainMs + 60_000).then(
          () => {
            const at = performance.now();
            if (finished || at > drainDeadline) return;
            latencies.push(at - intended);
            answered += 1;
            lastAnswer = at;
          },
          () => undefined,
        ),
      );
      due.push(message);
      next += 1;
    }
    if (due.length > 0) {
      lastSend = now;
      sends.push(
        step.send(due).catch(() => {
          sendErrors += due.length;
        }),
      );
    }
    if (next < total) await sleep(Math.max(0, start + next * interval - performance.now()));
  }
  await Promise.all(sends);
  drainDeadline = lastSend + step.drainMs;
  await Promise.race([Promise.all(answers), sleep(Math.max(0, drainDeadline - performance.now()))]);
  finished = true;
  const end = performance.now();
  latencies.sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  return {
    rate: step.rate,
    sent: total - sendErrors,
    answered,
    lost: total - answered,
    sendErrors,
    achievedRate: total / ((lastSend - start + interval) / 1000),
    latencies,
    sendLagP99: percentile(lags, 99),
    drainedMs: lastAnswer - lastSend,
    answersPerSecond: answered / ((lastAnswer - start) / 1000),
    elapsedMs: end - start,
  };
}
