import { randomUUID } from "node:crypto";
import { InvalidArgumentError, type Command } from "commander";
import { context, trace } from "@opentelemetry/api";
import { TopicWatcher } from "../shared/kafka/topic-watcher.ts";
import { fullTraceAttributes } from "../shared/telemetry/sampling.ts";
import { withTenant } from "../shared/telemetry/propagation.ts";
import type { Request, Response, RunState } from "../shared/schemas/records.ts";
import { openClient, signatureHeaders, type CliClient } from "./client.ts";
import { formatResponse, formatRun } from "./response-format.ts";
import { readTopics } from "./read-topics.ts";
import { runAction } from "./run-action.ts";
import { EventFeed } from "../shared/kafka/event-feed.ts";
import { BatonError } from "../shared/errors.ts";
import { formatEvent } from "./event-format.ts";

function keyValue(pair: string, previous: Record<string, string>): Record<string, string> {
  const index = pair.indexOf("=");
  if (index <= 0) throw new InvalidArgumentError(`expected key=value, got "${pair}"`);
  return { ...previous, [pair.slice(0, index)]: pair.slice(index + 1) };
}

function seconds(value: string): number {
  const number = Number(value.replace(/s$/, ""));
  if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError(`expected seconds, got "${value}"`);
  return number;
}

/** Options of one submission. */
export interface SubmitOptions {
  tenant: string;
  workflow?: string;
  metadata: Record<string, string>;
  requestId?: string;
}

/**
 * Produces one baton.Request inside a `submit request` span, so the whole run is one trace. The trace is always
 * sampled (the stages follow the sampled flag), so `baton trace <id>` finds it, and its baggage names the tenant.
 */
export async function submitRequest(client: CliClient, input: string, options: SubmitOptions): Promise<Request> {
  const request: Request = {
    requestId: options.requestId ?? randomUUID(),
    tenant: options.tenant,
    input,
    workflow: options.workflow ?? null,
    metadata: options.metadata,
    submittedAt: Date.now(),
  };
  const span = client.backbone.tracing.tracer.startSpan("submit request", {
    attributes: { "baton.request_id": request.requestId, "baton.tenant": request.tenant, ...fullTraceAttributes },
  });
  await context.with(trace.setSpan(withTenant(request.tenant), span), () =>
    client.producer.send([
      {
        topic: "baton.requests",
        key: request.requestId,
        value: request,
        headers: signatureHeaders(client, "baton.requests", request),
      },
    ]),
  );
  span.end();
  return request;
}

/**
 * `baton submit --follow`: follows baton.events from before the request is produced, printing each event as it
 * comes (partial answer text as it streams) and the response last; fails with TIMEOUT after `--timeout`.
 */
async function followSubmission(
  client: CliClient,
  text: string,
  options: {
    tenant: string;
    workflow?: string;
    meta: Record<string, string>;
    id?: string;
    timeout: number;
    json?: boolean;
  },
): Promise<void> {
  const { kafka, codec } = client.backbone;
  const feed = new EventFeed({ kafka, codec });
  await feed.start();
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), options.timeout * 1000);
  try {
    const request = await submitRequest(client, text, {
      tenant: options.tenant,
      metadata: options.meta,
      ...(options.workflow === undefined ? {} : { workflow: options.workflow }),
      ...(options.id === undefined ? {} : { requestId: options.id }),
    });
    if (options.json !== true) console.log(`submitted ${request.requestId}`);
    let writing = false;
    for await (const followed of feed.follow(request.requestId, {
      since: request.submittedAt - 60_000,
      signal: timeout.signal,
    })) {
      const { event } = followed;
      if (options.json === true) {
        console.log(JSON.stringify({ id: followed.id, ...event }));
        if (event.type === "RESPONSE") return;
        continue;
      }
      if (event.type === "PARTIAL_TEXT") {
        if (!writing || event.sequence === 0) process.stdout.write(`${writing ? "\n" : ""}  writing: `);
        writing = true;
        process.stdout.write(event.text ?? "");
        continue;
      }
      if (writing) process.stdout.write("\n");
      writing = false;
      if (event.type !== "RESPONSE") {
        console.log(formatEvent(event, request.submittedAt));
        continue;
      }
      const response = event.response === null ? undefined : (JSON.parse(event.response) as Response);
      if (response !== undefined) for (const line of formatResponse(response, request)) console.log(line);
      else console.log(formatEvent(event, request.submittedAt));
      return;
    }
    throw new BatonError(
      "TIMEOUT",
      `no response for ${request.requestId} within ${options.timeout} s; \`baton status ${request.requestId}\` shows where it is`,
    );
  } finally {
    clearTimeout(timer);
    await feed.stop();
  }
}

/** `baton submit` and `baton status`. */
export function registerSubmitCommands(program: Command): void {
  program
    .command("submit")
    .description("produce one request onto baton.requests (and, with --wait, print its response)")
    .argument("<text>", "what the user asks")
    .option("--tenant <tenant>", "tenant whose policy applies", "demo")
    .option("--workflow <name>", "run this workflow (default: the planner chooses)")
    .option("--meta <key=value>", "request metadata, repeatable", keyValue, {})
    .option("--id <requestId>", "request id (default: a new UUID)")
    .option("--wait", "wait for the response and print it")
    .option("--follow", "print each step of progress as it happens (from baton.events), then the response")
    .option("--timeout <seconds>", "how long --wait or --follow waits", seconds, 60)
    .option("--json", "print the response as JSON")
    .addHelpText(
      "after",
      `\nExamples:\n  $ baton submit "My order #1234 arrived damaged and I want a refund" --meta customerEmail=ann@example.com --wait\n  $ baton submit "How long does shipping take?" --follow\n  $ baton submit "Refund order 1234" --workflow refund --meta orderId=1234 --meta amount=120\n`,
    )
    .action(
      runAction(
        async (
          text: string,
          options: {
            tenant: string;
            workflow?: string;
            meta: Record<string, string>;
            id?: string;
            wait?: boolean;
            follow?: boolean;
            timeout: number;
            json?: boolean;
          },
        ) => {
          const client = await openClient();
          const { kafka, codec } = client.backbone;
          if (options.follow === true) {
            try {
              await followSubmission(client, text, options);
            } finally {
              await client.close();
            }
            return;
          }
          const watcher =
            options.wait === true ? new TopicWatcher<Response>({ kafka, codec, topic: "baton.responses" }) : undefined;
          try {
            await watcher?.start();
            const request = await submitRequest(client, text, {
              tenant: options.tenant,
              metadata: options.meta,
              ...(options.workflow === undefined ? {} : { workflow: options.workflow }),
              ...(options.id === undefined ? {} : { requestId: options.id }),
            });
            if (watcher === undefined) {
              console.log(
                options.json === true
                  ? JSON.stringify({ requestId: request.requestId })
                  : `submitted ${request.requestId}`,
              );
              return;
            }
            const response = await watcher.waitFor(request.requestId, options.timeout * 1000);
            if (options.json === true) console.log(JSON.stringify(response.value, null, 2));
            else for (const line of formatResponse(response.value, request)) console.log(line);
          } finally {
            await watcher?.stop();
            await client.close();
          }
        },
      ),
    );

  program
    .command("status")
    .description("show a request's progress (from baton.runs) and its response (from baton.responses)")
    .argument("<requestId>")
    .option("--json", "print as JSON")
    .addHelpText("after", "\nExample:\n  $ baton status 7d3f0c2e-…\n")
    .action(
      runAction(async (requestId: string, options: { json?: boolean }) => {
        const client = await openClient();
        try {
          const [runs, responses] = await Promise.all(
            ["baton.runs", "baton.responses"].map((topic) =>
              readTopics(client, [topic], { keys: (key) => key === requestId }),
            ),
          );
          const run = runs?.at(-1)?.value as RunState | undefined;
          const response = responses?.at(-1)?.value as Response | undefined;
          if (options.json === true) {
            console.log(JSON.stringify({ run: run ?? null, response: response ?? null }, null, 2));
          } else {
            if (run === undefined && response === undefined) {
              throw new Error(`no run and no response for ${requestId}; check the id, or whether it was submitted`);
            }
            if (run !== undefined) for (const line of formatRun(run)) console.log(line);
            if (response !== undefined) for (const line of formatResponse(response)) console.log(line);
          }
        } finally {
          await client.close();
        }
      }),
    );
}
