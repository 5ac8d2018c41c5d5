import { InvalidArgumentError, type Command } from "commander";
import { deadLetterHeaders } from "../shared/kafka/headers.ts";
import type { ReadMessage } from "../shared/kafka/topic-reader.ts";
import { context, SpanKind, trace } from "@opentelemetry/api";
import { redrivenHeaders } from "../shared/kafka/retry-routing.ts";
import { extractTraceContext } from "../shared/telemetry/propagation.ts";
import { BatonAdmin } from "../shared/kafka/admin.ts";
import { deadLetterTopicName, stateRetentionMs, topics } from "../shared/topics.ts";
import { openClient, type CliClient } from "./client.ts";
import { readTopics } from "./read-topics.ts";
import { runAction } from "./run-action.ts";

interface DlqFilter {
  topic?: string;
  request?: string;
  since?: number;
}

function since(value: string): number {
  const relative = /^(\d+)([smhd])$/.exec(value);
  if (relative !== null) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as "s" | "m" | "h" | "d"];
    return Date.now() - Number(relative[1]) * unit;
  }
  const at = Date.parse(value);
  if (Number.isNaN(at))
    throw new InvalidArgumentError(`expected a time (2026-11-21T10:00:00Z) or an age (30m, 2h, 1d), got "${value}"`);
  return at;
}

/** The dead-letter topics Baton declares (or the one asked for). */
function deadLetterTopics(filter: DlqFilter): string[] {
  if (filter.topic !== undefined)
    return [filter.topic.endsWith(".dlq") ? filter.topic : deadLetterTopicName(filter.topic)];
  return topics
    .filter((declaration) => declaration.deadLetter)
    .map((declaration) => deadLetterTopicName(declaration.name));
}

/** Reads the dead letters that match a filter, from every dead-letter topic at once. */
export async function findDeadLetters(client: CliClient, filter: DlqFilter): Promise<ReadMessage[]> {
  const letters = await readTopics(client, deadLetterTopics(filter));
  return letters
    .filter((message) => filter.request === undefined || message.key === filter.request)
    .filter((message) => filter.since === undefined || message.timestamp >= filter.since)
    .sort((a, b) => a.timestamp - b.timestamp);
}

/**
 * Sends dead letters back to the topic they came from as new first attempts; returns where each went. Each
 * goes out under a `redrive <topic>` span in the request's own trace, linked to the dead letter's span, so
 * the redriven attempt is seen beside the one that failed.
 */
export async function redrive(
  client: CliClient,
  letters: ReadMessage[],
): Promise<Array<{ key: string | null; to: string }>> {
  const now = Date.now();
  const { tracer } = client.backbone.tracing;
  const sent: Array<{ key: string | null; to: string }> = [];
  for (const letter of letters) {
    const to = letter.headers[deadLetterHeaders.originTopic] ?? letter.topic.replace(/\.dlq$/, "");
    const original = extractTraceContext(letter.headers);
    const originalSpan = trace.getSpanContext(original);
    const span = tracer.startSpan(
      `redrive ${to}`,
      {
        kind: SpanKind.PRODUCER,
        links:
          originalSpan === undefined ? [] : [{ context: originalSpan, attributes: { "baton.link": "dead letter" } }],
        attributes: {
          "baton.redriven_from": `${letter.topic}/${letter.partition}/${letter.offset}`,
          ...(letter.key === null ? {} : { "baton.request_id": letter.key.split("/")[0] ?? letter.key }),
        },
      },
      original,
    );
    try {
      await context.with(trace.setSpan(original, span), () =>
        client.producer.sendRaw([
          { topic: to, key: letter.key, value: letter.raw, headers: redrivenHeaders(letter.headers, letter, now) },
        ]),
      );
    } finally {
      span.end();
    }
    sent.push({ key: letter.key, to });
  }
  return sent;
}

/** Topics whose records a redrive relies on: run state and idempotency records. */
const recordTopics = ["baton.runs", "baton.tool-outcomes", "baton.tool-intents"];

/** How long before its records expire a letter counts as stale: a call's records are written before its letter. */
const staleMarginMs = 60 * 60 * 1000;

/**
 * How long this cluster keeps run state and idempotency records: the shortest `retention.ms` of their topics (a
 * cluster whose topics predate the declared retention may keep them for less), or the declared one.
 */
export async function recordsRetentionMs(client: CliClient): Promise<number> {
  const admin = await BatonAdmin.connect(client.backbone.kafka);
  try {
    const retentions = await Promise.all(
      recordTopics.map(async (topic) => {
        const value = Number((await admin.describeTopic(topic, ["retention.ms"])).config["retention.ms"]);
        return Number.isFinite(value) && value >= 0 ? value : Infinity;
      }),
    );
    const shortest = Math.min(...retentions);
    return Number.isFinite(shortest) ? shortest : stateRetentionMs;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Dead letters old enough that their run state and idempotency records may be gone: redriven, their request could
 * run again and a tool with side effects be called twice.
 */
export function staleLetters(letters: readonly ReadMessage[], retentionMs: number, now: number): ReadMessage[] {
  return letters.filter((letter) => now - letter.timestamp >= retentionMs - staleMarginMs);
}

function days(ms: number): string {
  const value = ms / 86_400_000;
  return `${Number.isInteger(value) ? value : value.toFixed(1)} day${value === 1 ? "" : "s"}`;
}

function describe(letter: ReadMessage): string {
  const headers = letter.headers;
  return [
    `${letter.topic} ${letter.partition}/${letter.offset}`,
    `key ${letter.key ?? "(none)"}`,
    `${headers[deadLetterHeaders.code] ?? "?"} in ${headers[deadLetterHeaders.stage] ?? "?"} at ${headers[deadLetterHeaders.failedAt] ?? "?"}`,
    `attempts ${headers["baton-attempt"] ?? "1"}`,
    `reason: ${headers[deadLetterHeaders.reason] ?? "?"}`,
  ].join("  ");
}

function withFilters(command: Command): Command {
  return command
    .option("--topic <topic>", "one stage input (baton.requests) or its dead-letter topic (baton.requests.dlq)")
    .option("--request <requestId>", "only this request's dead letters")
    .option("--since <time>", "only dead letters written since a time or an age (30m, 2h, 1d)", since);
}

/** `baton dlq list|show|redrive`. */
export function registerDlqCommands(program: Command): void {
  const dlq = program.command("dlq").description("inspect dead letters and send them back where they came from");
  withFilters(dlq.command("list").description("list dead letters with their reason, stage, attempts and origin"))
    .option("--json", "print as JSON")
    .addHelpText("after", "\nExamples:\n  $ baton dlq list\n  $ baton dlq list --topic baton.requests --since 2h\n")
    .action(
      runAction(async (options: DlqFilter & { json?: boolean }) => {
        const client = await openClient();
        try {
          const letters = await findDeadLetters(client, options);
          if (options.json === true) {
            console.log(
              JSON.stringify(
                letters.map(({ raw, ...letter }) => ({ ...letter, rawBase64: raw?.toString("base64") ?? null })),
                null,
                2,
              ),
            );
          } else if (letters.length === 0) console.log("no dead letters match");
          else for (const letter of letters) console.log(describe(letter));
        } finally {
          await client.close();
        }
      }),
    );
  dlq
    .command("show")
    .description("print one dead letter: headers, and the value decoded (or its bytes when it cannot be)")
    .argument("<topic>", "the dead-letter topic")
    .argument("<partition>")
    .argument("<offset>")
    .addHelpText("after", "\nExample:\n  $ baton dlq show baton.requests.dlq 3 17\n")
    .action(
      runAction(async (topic: string, partition: string, offset: string) => {
        const client = await openClient();
        try {
          const letters = await findDeadLetters(client, { topic });
          const letter = letters.find(
            (candidate) => String(candidate.partition) === partition && candidate.offset === offset,
          );
          if (letter === undefined)
            throw new Error(
              `no dead letter at ${topic} ${partition}/${offset}; list them with: baton dlq list --topic ${topic}`,
            );
          console.log(describe(letter));
          console.log(
            JSON.stringify(
              {
                headers: letter.headers,
                value: letter.value,
                decodeError: letter.decodeError ?? null,
                rawBase64: letter.raw?.toString("base64") ?? null,
              },
              null,
              2,
            ),
          );
        } finally {
          await client.close();
        }
      }),
    );
  withFilters(
    dlq.command("redrive").description("send matching dead letters back to their origin topic as a new attempt"),
  )
    .option("--dry-run", "only list what would be sent")
    .option(
      "--allow-stale",
      "also send letters older than the run state and idempotency records (their side effects may happen twice)",
    )
    .addHelpText(
      "after",
      "\nLetters older than the run state and idempotency records (baton.runs, baton.tool-outcomes, baton.tool-intents\n" +
        "retention on this cluster, less an hour) are refused: their request could run again and repeat a side effect.\n" +
        "\nExamples:\n  $ baton dlq redrive --request 7d3f0c2e-…\n  $ baton dlq redrive --topic baton.allowed-calls --since 1h\n",
    )
    .action(
      runAction(async (options: DlqFilter & { dryRun?: boolean; allowStale?: boolean }) => {
        if (options.topic === undefined && options.request === undefined && options.since === undefined) {
          throw new Error("redrive needs a filter (--topic, --request or --since) so nothing is sent back by accident");
        }
        const client = await openClient();
        try {
          const letters = await findDeadLetters(client, options);
          const retentionMs = await recordsRetentionMs(client);
          const stale = new Set(staleLetters(letters, retentionMs, Date.now()));
          if (options.dryRun === true) {
            for (const letter of letters)
              console.log(`would ${stale.has(letter) ? "refuse (stale)" : "redrive"}: ${describe(letter)}`);
            return;
          }
          if (stale.size > 0 && options.allowStale !== true) {
            throw new Error(
              `${stale.size} of ${letters.length} dead letters are older than the run state and idempotency records ` +
                `this cluster keeps (${days(retentionMs)}, less an hour): redriven, their requests could run again and ` +
                `repeat a side effect. Narrow the filter (--since ${Math.max(1, Math.floor((retentionMs - 3_600_000) / 3_600_000))}h), ` +
                "or pass --allow-stale to send them anyway",
            );
          }
          const sent = await redrive(client, letters);
          for (const message of sent) console.log(`redriven ${message.key ?? "(no key)"} -> ${message.to}`);
          console.log(`${sent.length} dead letter${sent.length === 1 ? "" : "s"} redriven`);
        } finally {
          await client.close();
        }
      }),
    );
}
