import type { EachBatchPayload } from "kafkajs";
import { headersToText } from "./headers.ts";
import { dueAt, isRetryTopic } from "./retry-routing.ts";
import type { Handled } from "./message-processor.ts";
import type { RunnerParts } from "./runner-parts.ts";

/**
 * Processes a fetched batch of one partition in chunks, holding the partition number's lane so the co-partitioned
 * messages of one request (its request, results, deadline) are handled one chunk at a time: each message's logic
 * runs in its own span, in order; their messages go out in one produce request with the chunk's offset commit. A
 * chunk takes messages for at most `chunkBudgetMs`, so a member always joins a rebalance in time. A crash or a lost
 * partition before the commit replays the chunk (at least once; exactly once with transactions).
 */
export async function processInOrder(parts: RunnerParts, payload: EachBatchPayload): Promise<void> {
  const { batch } = payload;
  for (let start = 0; start < batch.messages.length;) {
    if (!payload.isRunning() || payload.isStale() || !parts.lanes.owns(batch.partition)) return;
    let chunk = batch.messages.slice(start, start + parts.maxBatchSize);
    const notDue = isRetryTopic(batch.topic)
      ? chunk.findIndex((message) => dueAt(headersToText(message.headers)) > Date.now())
      : -1;
    const waitFor = notDue >= 0 ? chunk[notDue] : undefined;
    if (waitFor !== undefined) chunk = chunk.slice(0, notDue);
    const cut = await parts.lanes.run(batch.partition, async (lane) => {
      // kafkajs heartbeats only between batches: keep the membership alive while slow logic (an LLM call) runs.
      const heartbeats = setInterval(() => {
        payload.heartbeat().catch(() => undefined);
      }, parts.heartbeatIntervalMs);
      const handled: Handled[] = [];
      const until = Date.now() + parts.chunkBudgetMs;
      try {
        for (const message of chunk) {
          handled.push(await parts.process(batch.topic, batch.partition, message));
          if (Date.now() > until) break;
        }
        const last = chunk[handled.length - 1];
        const next = last === undefined ? undefined : (BigInt(last.offset) + 1n).toString();
        await parts.publish(lane, batch.topic, batch.partition, handled, next);
        if (last !== undefined) payload.resolveOffset(last.offset);
        parts.published(handled);
        return handled.length < chunk.length;
      } catch (error) {
        for (const result of handled) result.finish(error);
        parts.onChunkAborted(batch.topic, batch.partition);
        throw error;
      } finally {
        clearInterval(heartbeats);
      }
    });
    await payload.heartbeat();
    if (cut) return;
    if (waitFor !== undefined) {
      parts.waitUntilDue(batch.topic, batch.partition, waitFor);
      return;
    }
    start += chunk.length;
  }
}
