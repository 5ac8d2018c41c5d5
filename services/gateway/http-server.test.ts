import { describe, expect, it } from "vitest";
import { BatonError } from "../../shared/errors.ts";
import type { EventPosition, FollowedEvent } from "../../shared/kafka/event-feed.ts";
import { progressEvent } from "../../shared/progress-events.ts";
import type { Request } from "../../shared/schemas/records.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import type { GatewayBackend, RequestLocation } from "./backend.ts";
import { buildHttpServer } from "./http-server.ts";

/** A backend in memory: requests by id, their events on partition 3, Kafka up or down. */
class MemoryBackend implements GatewayBackend {
  readonly requests = new Map<string, Request>();
  readonly events = new Map<string, FollowedEvent[]>();
  submits = 0;
  down = false;

  submit(request: Request): Promise<RequestLocation> {
    if (this.down) return Promise.reject(new BatonError("KAFKA_UNAVAILABLE", "produce failed: broker down"));
    this.submits += 1;
    this.requests.set(request.requestId, request);
    return Promise.resolve({ partition: 3, request });
  }

  locate(requestId: string): Promise<RequestLocation | undefined> {
    if (this.down) return Promise.reject(new BatonError("KAFKA_UNAVAILABLE", "read failed: broker down"));
    const request = this.requests.get(requestId);
    return Promise.resolve(request === undefined ? undefined : { partition: 3, request });
  }

  read(location: RequestLocation): Promise<FollowedEvent[]> {
    return Promise.resolve(this.events.get(location.request.requestId) ?? []);
  }

  async *follow(location: RequestLocation, options: { after?: EventPosition }): AsyncIterable<FollowedEvent> {
    await Promise.resolve();
    for (const followed of this.events.get(location.request.requestId) ?? [])
      if (options.after === undefined || followed.offset > options.after.offset) yield followed;
  }
}

const logger = createLogger({ service: "gateway-test", level: "silent" });

async function server(backend: GatewayBackend) {
  return buildHttpServer({ backend, logger, now: () => 1_000, keepAliveMs: 60_000 });
}

const body = { tenant: "demo", input: "How long does shipping take?" };

function eventsOf(requestId: string): FollowedEvent[] {
  const types = ["PLANNED", "ALLOWED", "STARTED", "FINISHED"] as const;
  const steps = types.map((type, index) => ({
    id: `3-${10 + index}`,
    partition: 3,
    offset: BigInt(10 + index),
    event: progressEvent(requestId, type, 1_000 + index, {
      stepId: "search",
      tool: "knowledge-base/search",
      ...(type === "FINISHED" ? { status: "SUCCEEDED", attempt: 1 } : {}),
    }),
  }));
  const response = {
    requestId,
    status: "ANSWERED" as const,
    answer: "Three days.",
    steps: [{ stepId: "search", tool: "knowledge-base/search", status: "SUCCEEDED", attempts: 1, durationMs: 4 }],
    error: null,
    completedAt: 1_010,
  };
  return [
    ...steps,
    {
      id: "3-20",
      partition: 3,
      offset: 20n,
      event: progressEvent(requestId, "RESPONSE", 1_010, {
        status: "ANSWERED",
        text: "Three days.",
        response: JSON.stringify(response),
      }),
    },
  ];
}

describe("the gateway's HTTP API", () => {
  it("accepts a request with a new id and says where to follow it", async () => {
    const backend = new MemoryBackend();
    const app = await server(backend);
    const reply = await app.inject({ method: "POST", url: "/v1/requests", payload: body });
    expect(reply.statusCode).toBe(202);
    const accepted = reply.json<{ requestId: string; links: { events: string } }>();
    expect(backend.requests.get(accepted.requestId)).toMatchObject({ ...body, workflow: null, metadata: {} });
    expect(accepted.links.events).toBe(`/v1/requests/${accepted.requestId}/events`);
    expect(reply.headers.location).toBe(`/v1/requests/${accepted.requestId}`);
  });

  it("the Idempotency-Key is the requestId: a retried POST is submitted once, another request under it is a 409", async () => {
    const backend = new MemoryBackend();
    const app = await server(backend);
    const post = (payload: Record<string, unknown>) =>
      app.inject({ method: "POST", url: "/v1/requests", payload, headers: { "idempotency-key": "order-77-retry" } });
    const first = await post(body);
    const again = await post(body);
    expect([first.statusCode, again.statusCode]).toEqual([202, 202]);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(backend.submits).toBe(1);
    const other = await post({ ...body, input: "Something else" });
    expect(other.statusCode).toBe(409);
    expect(other.headers["content-type"]).toMatch(/^application\/problem\+json/);
  });

  it("names every bad field of a body in a problem document", async () => {
    const app = await server(new MemoryBackend());
    const reply = await app.inject({
      method: "POST",
      url: "/v1/requests",
      payload: { tenant: 5, metadata: { amount: 30 }, extra: true },
    });
    expect(reply.statusCode).toBe(400);
    expect(reply.headers["content-type"]).toMatch(/^application\/problem\+json/);
    const problem = reply.json<{ type: string; status: number; errors: Array<{ in: string; field: string }> }>();
    expect(problem.status).toBe(400);
    expect(problem.type).toBe("/problems/invalid-request");
    expect(problem.errors.map((error) => `${error.in}:${error.field}`).sort()).toEqual([
      "body:extra",
      "body:input",
      "body:metadata.amount",
      "body:tenant",
    ]);
  });

  it("an Idempotency-Key that differs from the body's requestId is a 400 naming both", async () => {
    const app = await server(new MemoryBackend());
    const reply = await app.inject({
      method: "POST",
      url: "/v1/requests",
      payload: { ...body, requestId: "a-1" },
      headers: { "idempotency-key": "b-2" },
    });
    expect(reply.statusCode).toBe(400);
    expect(reply.json<{ errors: Array<{ field: string }> }>().errors.map((error) => error.field)).toEqual([
      "idempotency-key",
      "requestId",
    ]);
  });

  it("Kafka unavailable is a 503 with Retry-After", async () => {
    const backend = new MemoryBackend();
    backend.down = true;
    const app = await server(backend);
    for (const request of [
      { method: "POST" as const, url: "/v1/requests", payload: body },
      { method: "GET" as const, url: "/v1/requests/r-1" },
    ]) {
      const reply = await app.inject(request);
      expect(reply.statusCode).toBe(503);
      expect(reply.headers["retry-after"]).toBe("5");
      expect(reply.headers["content-type"]).toMatch(/^application\/problem\+json/);
    }
  });

  it("an unknown request is a 404 for its status and its events", async () => {
    const app = await server(new MemoryBackend());
    for (const url of ["/v1/requests/nobody", "/v1/requests/nobody/events"]) {
      const reply = await app.inject({ method: "GET", url });
      expect(reply.statusCode).toBe(404);
      expect(reply.json<{ type: string }>().type).toBe("/problems/unknown-request");
    }
  });

  it("a request's status folds its events: steps and the response", async () => {
    const backend = new MemoryBackend();
    const app = await server(backend);
    await backend.submit({ requestId: "r-1", ...body, workflow: null, metadata: {}, submittedAt: 1 });
    const running = await app.inject({ method: "GET", url: "/v1/requests/r-1" });
    expect(running.json()).toMatchObject({ status: "ACCEPTED", steps: [], response: null });
    backend.events.set("r-1", eventsOf("r-1").slice(0, 3));
    expect((await app.inject({ method: "GET", url: "/v1/requests/r-1" })).json()).toMatchObject({
      status: "RUNNING",
      steps: [{ stepId: "search", status: "RUNNING" }],
    });
    backend.events.set("r-1", eventsOf("r-1"));
    const done = (await app.inject({ method: "GET", url: "/v1/requests/r-1" })).json<Record<string, unknown>>();
    expect(done).toMatchObject({ status: "ANSWERED", response: { answer: "Three days." } });
  });

  it("streams events as SSE with their ids, after Last-Event-ID when given", async () => {
    const backend = new MemoryBackend();
    const app = await server(backend);
    await backend.submit({ requestId: "r-2", ...body, workflow: null, metadata: {}, submittedAt: 1 });
    backend.events.set("r-2", eventsOf("r-2"));
    const whole = await app.inject({ method: "GET", url: "/v1/requests/r-2/events" });
    expect(whole.headers["content-type"]).toMatch(/^text\/event-stream/);
    const ids = (text: string) => [...text.matchAll(/^id: (.+)$/gm)].map((match) => match[1]);
    expect(ids(whole.body)).toEqual(["3-10", "3-11", "3-12", "3-13", "3-20"]);
    expect(whole.body).toContain('"type":"RESPONSE"');
    const resumed = await app.inject({
      method: "GET",
      url: "/v1/requests/r-2/events",
      headers: { "last-event-id": "3-12" },
    });
    expect(ids(resumed.body)).toEqual(["3-13", "3-20"]);
    const elsewhere = await app.inject({
      method: "GET",
      url: "/v1/requests/r-2/events",
      headers: { "last-event-id": "4-12" },
    });
    expect(elsewhere.statusCode).toBe(400);
  });

  it("documents its routes in /openapi.json; /mcp is a 404 until an MCP handler is mounted", async () => {
    const app = await server(new MemoryBackend());
    const document = (await app.inject({ method: "GET", url: "/openapi.json" })).json<{ paths: object }>();
    expect(Object.keys(document.paths)).toContain("/v1/requests/{requestId}/events");
    expect((await app.inject({ method: "POST", url: "/mcp", payload: {} })).statusCode).toBe(404);
    const mounted = await buildHttpServer({
      backend: new MemoryBackend(),
      logger,
      mcp: (_req, res, parsed) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ echoed: parsed }));
        return Promise.resolve();
      },
    });
    const reply = await mounted.inject({ method: "POST", url: "/mcp", payload: { jsonrpc: "2.0" } });
    expect(reply.json()).toEqual({ echoed: { jsonrpc: "2.0" } });
  });
});
