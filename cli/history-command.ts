import type { Command } from "commander";
import { BatonError } from "../shared/errors.ts";
import { keyPartition } from "../shared/kafka/key-partition.ts";
import {
  expandTopics,
  isCoPartitioned,
  isReplayTopic,
  replayRetentionMs,
  requestPartitions,
  topics,
} from "../shared/topics.ts";
import { openClient, type CliClient } from "./client.ts";
import type { ReadMessage } from "../shared/kafka/topic-reader.ts";
import { buildHistory, formatHistory, isAbout, type HistoryEntry } from "./history-view.ts";
import { readTopics } from "./read-topics.ts";
import { runAction } from "./run-action.ts";
import { eventsTopic } from "../shared/progress-events.ts";

/**
 * Every topic a request's messages can be on: the per-request topics, their retry topics and dead letters; not the
 * replays, nor baton.events, which retells what the others hold (for followers).
 */
const historyTopics = expandTopics(topics)
  .map((spec) => spec.name)
  .filter((name) => isCoPartitioned(name) && !isReplayTopic(name) && name !== eventsTopic);

/** Producers' clocks may differ by this much: a request's messages are read from this long before it. */
const clockSkewMs = 5 * 60_000;

/** The messages about a request on one partition number of every history topic, from a time on. */
async function readPartition(client: CliClient, requestId: string, partition: number, since: number | undefined) {
  return readTopics(
    client,
    historyTopics.map((topic) => ({ topic, partitions: [partition] })),
    { keys: (key) => isAbout(requestId, key), ...(since === undefined ? {} : { since }) },
  );
}

/** Where a request is: the partition and time of its first message on baton.requests, or of its run state. */
async function locate(client: CliClient, requestId: string): Promise<{ partition: number; at: number } | undefined> {
  const first = (messages: ReadMessage[]) => {
    const [earliest] = messages.sort((a, b) => a.timestamp - b.timestamp);
    return earliest === undefined ? undefined : { partition: earliest.partition, at: earliest.timestamp };
  };
  const exactly = { keys: (key: string | null) => key === requestId };
  const hashed = keyPartition(requestId, requestPartitions);
  return (
    first(await readTopics(client, [{ topic: "baton.requests", partitions: [hashed] }], exactly)) ??
    // A submitter whose client partitions otherwise put it elsewhere; a request past its retention left its run.
    first(await readTopics(client, ["baton.requests"], exactly)) ??
    first(await readTopics(client, ["baton.runs"], exactly))
  );
}

/** A request's history, and the partition number its messages are on. */
export interface RequestHistory {
  requestId: string;
  partition: number;
  entries: HistoryEntry[];
}

/**
 * Reads a request's story from the topics alone. A request's messages are all on one partition number
 * (co-partitioning) and come after the request: so only that partition of each topic is read, from shortly before
 * the request was submitted, up to the end each had when the command started. The partition is the one its id
 * hashes to when baton.requests holds it there, else the one where baton.requests (or baton.runs) holds it.
 */
export async function requestHistory(client: CliClient, requestId: string): Promise<RequestHistory> {
  const found = await locate(client, requestId);
  if (found === undefined) {
    const days = Math.round(replayRetentionMs / 86_400_000);
    throw new BatonError(
      "INVALID_INPUT",
      `no request ${requestId} on the topics; was it submitted to this cluster? (requests are kept ${days} days)`,
    );
  }
  const messages = await readPartition(client, requestId, found.partition, found.at - clockSkewMs);
  return { requestId, partition: found.partition, entries: buildHistory(requestId, messages) };
}

/** `baton history <requestId>`. */
export function registerHistoryCommand(program: Command): void {
  program
    .command("history")
    .description("tell a request's story from the topics: each message about it, with topic, partition and offset")
    .argument("<requestId>")
    .option("--json", "print the messages as JSON, values decoded")
    .addHelpText(
      "after",
      "\nReads the partition the request's messages are on, of every per-request topic (retry topics and dead\n" +
        "letters too), up to the end each had when the command started.\n\nExample:\n  $ baton history 7d3f0c2e-…\n",
    )
    .action(
      runAction(async (requestId: string, options: { json?: boolean }) => {
        const client = await openClient();
        try {
          const history = await requestHistory(client, requestId);
          if (options.json === true) console.log(JSON.stringify(history, null, 2));
          else for (const line of formatHistory(requestId, history.entries)) console.log(line);
        } finally {
          await client.close();
        }
      }),
    );
}
