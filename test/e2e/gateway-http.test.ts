import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { backboneConfigSchema, parseConfig } from "../../shared/config.ts";
import { createBackbone, type Backbone } from "../../shared/backbone.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import { readToEnd } from "../../shared/kafka/topic-reader.ts";
import { TopicWatcher } from "../../shared/kafka/topic-watcher.ts";
import type { Response } from "../../shared/schemas/records.ts";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { TestPipeline } from "./pipeline.ts";
import { readSse, type ReceivedSse } from "./fixtures/sse-client.ts";

// The gateway's HTTP API against the real stack, real stages and a real gateway process (run under the stack lock:
// the stages use the shared consumer groups).
const port = 18_180;
const base = `http://127.0.0.1:${port}`;

let pipeline: TestPipeline;
let backbone: Backbone;
let responses: TopicWatcher<Response>;

beforeAll(async () => {
  const config = parseConfig(backboneConfigSchema, { OTEL_TRACES_EXPORTER: "none" });
  backbone = createBackbone("baton-e2e-gateway", config, createLogger({ service: "baton-e2e-gateway", level: "warn" }));
  responses = new TopicWatcher<Response>({ kafka: backbone.kafka, codec: backbone.codec, topic: "baton.responses" });
  await responses.start();
  pipeline = await TestPipeline.start();
  await pipeline.startStage("gateway", { GATEWAY_PORT: String(port), METRICS_PORT: "0" });
}, 180_000);

afterAll(async () => {
  const stopped = await pipeline.stop();
  await responses.stop();
  await backbone.tracing.shutdown();
  expect(stopped.filter((stage) => stage.code !== 0)).toEqual([]);
}, 60_000);

async function post(body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}/v1/requests`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

const lookup = (email: string) => ({
  tenant: "demo",
  input: "How long does shipping take?",
  workflow: "parallel-lookup",
  metadata: { customerEmail: email },
});

const told = (events: ReceivedSse[]): string[] =>
  events.map(({ data }) => `${data.type as string}${typeof data.stepId === "string" ? ` ${data.stepId}` : ""}`);

describe("the gateway's HTTP API", () => {
  it("POST, then the event stream shows each step in order and ends with the answer", async () => {
    const accepted = await post(lookup("kim@example.com"));
    expect(accepted.status).toBe(202);
    const requestId = String(accepted.body.requestId);
    expect(accepted.body.links).toEqual({
      self: `/v1/requests/${requestId}`,
      events: `/v1/requests/${requestId}/events`,
    });

    const stream = await readSse(`${base}/v1/requests/${requestId}/events`);
    expect(stream.status).toBe(200);
    expect(stream.contentType).toMatch(/^text\/event-stream/);
    expect(stream.ended).toBe(true);
    const names = told(stream.events);
    for (const step of ["search", "ticket", "notify"]) {
      const order = ["PLANNED", "ALLOWED", "STARTED", "FINISHED"].map((type) => names.indexOf(`${type} ${step}`));
      expect(
        order.every((index) => index >= 0),
        names.join(", "),
      ).toBe(true);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    expect(names.indexOf("PLANNED notify")).toBeGreaterThan(names.indexOf("FINISHED ticket"));
    const last = stream.events.at(-1);
    expect(last?.data.type).toBe("RESPONSE");
    const response = last?.data.response as Response;
    expect(response.status).toBe("ANSWERED");
    expect(response.answer).toMatch(/^Ticket TCK-\d+, mailed to \[redacted email\]/);
    expect(stream.events.every((event) => event.id === event.data.id && /^\d+-\d+$/.test(event.id ?? ""))).toBe(true);

    const status = await fetch(`${base}/v1/requests/${requestId}`);
    expect(status.status).toBe(200);
    const view = (await status.json()) as Record<string, unknown>;
    expect(view).toMatchObject({ requestId, status: "ANSWERED", tenant: "demo", workflow: "parallel-lookup" });
    expect((view.steps as Array<{ stepId: string; status: string }>).map((step) => [step.stepId, step.status])).toEqual(
      [
        ["search", "SUCCEEDED"],
        ["ticket", "SUCCEEDED"],
        ["notify", "SUCCEEDED"],
      ],
    );
    expect((view.response as Response).answer).toBe(response.answer);
  });

  it("a client that reconnects with Last-Event-ID gets only what it missed", async () => {
    const accepted = await post(lookup("lee@example.com"));
    const requestId = String(accepted.body.requestId);
    const url = `${base}/v1/requests/${requestId}/events`;
    const first = await readSse(url, { stopAfter: (events) => events.length === 4 });
    expect(first.ended).toBe(false);
    expect(first.events).toHaveLength(4);
    const lastSeen = first.events.at(-1)?.id;
    expect(lastSeen).toBeDefined();

    const resumed = await readSse(url, { lastEventId: lastSeen ?? "" });
    expect(resumed.ended).toBe(true);
    expect(resumed.events.at(-1)?.data.type).toBe("RESPONSE");

    const whole = await readSse(url);
    const ids = (events: ReceivedSse[]) => events.map((event) => event.id);
    expect([...ids(first.events), ...ids(resumed.events)]).toEqual(ids(whole.events));
    expect(ids(resumed.events)).not.toContain(lastSeen);
  });

  it("the same Idempotency-Key twice is one request and one run", async () => {
    const key = `e2e-gateway-${randomUUID()}`;
    const once = await post(lookup("max@example.com"), { "idempotency-key": key });
    const twice = await post(lookup("max@example.com"), { "idempotency-key": key });
    expect([once.status, twice.status]).toEqual([202, 202]);
    expect([once.body.requestId, twice.body.requestId]).toEqual([key, key]);
    expect(twice.headers.get("idempotent-replayed")).toBe("true");
    const stream = await readSse(`${base}/v1/requests/${key}/events`);
    expect(stream.events.at(-1)?.data.type).toBe("RESPONSE");

    const other = await post({ ...lookup("max@example.com"), input: "Something else" }, { "idempotency-key": key });
    expect(other.status).toBe(409);

    const { messages } = await readToEnd({
      kafka: backbone.kafka,
      codec: backbone.codec,
      topics: ["baton.requests", "baton.responses"],
      keys: (messageKey) => messageKey === key,
    });
    expect(messages.filter((message) => message.topic === "baton.requests")).toHaveLength(1);
    expect(messages.filter((message) => message.topic === "baton.responses")).toHaveLength(1);
    expect(told(stream.events).filter((name) => name === "PLANNED search")).toHaveLength(1);
  });

  it("a bad body gets a 400 problem document naming each bad field", async () => {
    const response = await fetch(`${base}/v1/requests`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tenant: "", metadata: { orderId: 7 }, colour: "blue" }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    const body = (await response.json()) as { status: number; type: string; errors: Array<{ field: string }> };
    expect(body.status).toBe(400);
    expect(body.errors.map((error) => error.field).sort()).toEqual(["colour", "input", "metadata.orderId", "tenant"]);

    const notJson = await fetch(`${base}/v1/requests`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    expect(notJson.status).toBe(400);
    expect(notJson.headers.get("content-type")).toMatch(/^application\/problem\+json/);

    const badResume = await fetch(`${base}/v1/requests/anything/events`, { headers: { "last-event-id": "yesterday" } });
    expect(badResume.status).toBe(400);
    expect(((await badResume.json()) as { errors: Array<{ field: string }> }).errors[0]?.field).toBe("last-event-id");
  });

  it("an unknown request is a 404, for its status and its events", async () => {
    const id = `e2e-gateway-unknown-${randomUUID()}`;
    for (const path of [`/v1/requests/${id}`, `/v1/requests/${id}/events`]) {
      const response = await fetch(`${base}${path}`);
      expect(response.status, path).toBe(404);
      expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    }
  });

  it("serves its OpenAPI document, made from the zod schemas", async () => {
    const response = await fetch(`${base}/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(document.openapi).toMatch(/^3\./);
    expect(Object.keys(document.paths).sort()).toEqual([
      "/v1/requests",
      "/v1/requests/{requestId}",
      "/v1/requests/{requestId}/events",
    ]);
    expect(JSON.stringify(document.paths["/v1/requests"])).toContain("idempotency-key");
  });

  it("serves Baton's MCP server at /mcp: the SDK's client lists the tools and runs a workflow to its answer", async () => {
    const client = new Client({ name: "baton-e2e-gateway-mcp", version: "1.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
        requestInit: { headers: { "x-baton-tenant": "demo" } },
      }),
    );
    try {
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      expect(names.slice(0, 3)).toEqual(["run_workflow", "get_request", "list_approvals"]);
      expect(names).toContain("knowledge-base.search");
      const result = await client.callTool(
        { name: "run_workflow", arguments: { workflow: "customer-support", input: "How long does shipping take?" } },
        undefined,
        { timeout: 60_000 },
      );
      expect(result.isError).toBeUndefined();
      expect(result.structuredContent).toMatchObject({ status: "ANSWERED" });
    } finally {
      await client.close();
    }
  }, 90_000);
});
