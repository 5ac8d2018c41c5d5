import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { backboneConfigSchema, parseConfig } from "../../shared/config.ts";
import { createBackbone, type Backbone } from "../../shared/backbone.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { EventFeed, type FollowedEvent } from "../../shared/kafka/event-feed.ts";
import type { Event, Request } from "../../shared/schemas/records.ts";
import { TestPipeline } from "./pipeline.ts";

// baton.events against the real stack and real stages: what `baton submit --follow` prints, and what a follower
// resuming after an event id gets (run under the stack lock: the stages use the shared consumer groups).
const root = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

let pipeline: TestPipeline;
let backbone: Backbone;
let producer: BatonProducer;
let feed: EventFeed;

beforeAll(async () => {
  const config = parseConfig(backboneConfigSchema, { OTEL_TRACES_EXPORTER: "none" });
  backbone = createBackbone("baton-e2e-events", config, createLogger({ service: "baton-e2e-events", level: "warn" }));
  producer = await BatonProducer.connect({
    kafka: backbone.kafka,
    codec: backbone.codec,
    tracer: backbone.tracing.tracer,
  });
  feed = new EventFeed({ kafka: backbone.kafka, codec: backbone.codec });
  await feed.start();
  pipeline = await TestPipeline.start();
}, 180_000);

afterAll(async () => {
  const stopped = await pipeline.stop();
  await feed.stop();
  await producer.disconnect();
  await backbone.tracing.shutdown();
  expect(stopped.filter((stage) => stage.code !== 0)).toEqual([]);
}, 60_000);

async function submit(workflow: string, tenant: string, metadata: Record<string, string> = {}): Promise<Request> {
  const request: Request = {
    requestId: `e2e-events-${randomUUID()}`,
    tenant,
    input: "How long does shipping take?",
    workflow,
    metadata,
    submittedAt: Date.now(),
  };
  await producer.send([{ topic: "baton.requests", key: request.requestId, value: request }]);
  return request;
}

async function collect(events: AsyncIterable<FollowedEvent>): Promise<FollowedEvent[]> {
  const all: FollowedEvent[] = [];
  for await (const followed of events) all.push(followed);
  return all;
}

const summary = (event: Event): string => `${event.type} ${event.stepId ?? ""}`.trim();

describe("baton.events", () => {
  it("tells each step planned, allowed, started and finished in order, and ends with the response", async () => {
    const request = await submit("parallel-lookup", "demo", { customerEmail: "ivy@example.com" });
    const events = await collect(
      feed.follow(request.requestId, { since: request.submittedAt - 60_000, signal: AbortSignal.timeout(60_000) }),
    );
    const told = events.map(({ event }) => summary(event));
    for (const step of ["search", "ticket", "notify"]) {
      const order = ["PLANNED", "ALLOWED", "STARTED", "FINISHED"].map((type) => told.indexOf(`${type} ${step}`));
      expect(
        order.every((index) => index >= 0),
        `${step} in ${told.join(", ")}`,
      ).toBe(true);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    expect(told.indexOf("PLANNED notify")).toBeGreaterThan(told.indexOf("FINISHED search"));
    expect(told.at(-1)).toBe("RESPONSE");
    const last = events.at(-1)?.event;
    expect(last?.status).toBe("ANSWERED");
    expect(last?.text).toContain("[redacted email]");
    const offsets = events.map(({ offset }) => offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : 1)));
    expect(new Set(events.map(({ partition }) => partition)).size).toBe(1);

    const third = events[2];
    if (third === undefined) throw new Error("fewer than three events");
    const resumed = await collect(
      feed.follow(request.requestId, { after: third, signal: AbortSignal.timeout(30_000) }),
    );
    expect(resumed.map(({ id }) => id)).toEqual(events.slice(3).map(({ id }) => id));
  });

  it("a step retried after a timeout is told as retried, then finished on its second attempt", async () => {
    const request = await submit("flaky-support", "slow");
    const events = await collect(
      feed.follow(request.requestId, { since: request.submittedAt - 60_000, signal: AbortSignal.timeout(60_000) }),
    );
    const told = events.map(({ event }) => `${summary(event)} ${event.attempt ?? ""}`.trim());
    const retried = told.indexOf("RETRIED search 1");
    expect(retried, told.join(", ")).toBeGreaterThan(told.indexOf("STARTED search 1"));
    expect(told.indexOf("STARTED search 2")).toBeGreaterThan(retried);
    expect(told.indexOf("FINISHED search 2")).toBeGreaterThan(told.indexOf("STARTED search 2"));
  });

  it("baton submit --follow prints each step as it happens and then the response", async () => {
    const { stdout } = await run(
      process.execPath,
      [
        "--disable-warning=TimeoutNegativeWarning",
        join(root, "cli/main.ts"),
        "submit",
        "How long does shipping take?",
        "--workflow",
        "parallel-lookup",
        "--meta",
        "customerEmail=jo@example.com",
        "--follow",
      ],
      { cwd: root, env: { ...process.env, OTEL_TRACES_EXPORTER: "none" } },
    );
    const lines = stdout.split("\n");
    const at = (pattern: RegExp): number => lines.findIndex((line) => pattern.test(line));
    expect(at(/^submitted /)).toBe(0);
    expect(at(/planned search \(knowledge-base\/search\)/)).toBeGreaterThan(0);
    expect(at(/finished notify \(outbox\/send_email\) SUCCEEDED/)).toBeGreaterThan(at(/started notify/));
    expect(at(/: ANSWERED in \d+ ms$/)).toBeGreaterThan(at(/finished notify/));
  });
});
