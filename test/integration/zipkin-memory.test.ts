import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { zipkinMemory } from "../../cli/stack/stack-services.ts";
import { startOwnZipkin, type OwnZipkin } from "./own-zipkin.ts";

let zipkin: OwnZipkin;

beforeAll(async () => {
  // Started exactly as `baton stack up` starts the stack's Zipkin (heap, max-spans), on a port of its own.
  zipkin = await startOwnZipkin(9413);
});

afterAll(async () => {
  await zipkin.kill();
});

/** A batch of spans, each its own trace, tagged like a stage's spans (about 600 bytes each as JSON). */
function spans(count: number): unknown[] {
  const now = Date.now() * 1000;
  return Array.from({ length: count }, () => ({
    traceId: randomBytes(16).toString("hex"),
    id: randomBytes(8).toString("hex"),
    name: "process baton.tool-calls",
    kind: "CONSUMER",
    timestamp: now,
    duration: 1500,
    localEndpoint: { serviceName: "baton-fill" },
    tags: {
      "messaging.system": "kafka",
      "messaging.destination.name": "baton.tool-calls",
      "messaging.kafka.offset": "123456",
      "messaging.consumer.group.name": "baton-executor",
      "baton.stage": "executor",
      "baton.request_id": randomBytes(16).toString("hex"),
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": "ticketing/create_ticket",
      "gen_ai.tool.call.id": randomBytes(20).toString("hex"),
      "service.name": "baton-executor",
    },
  }));
}

describe("the local Zipkin's memory", () => {
  it("filled past its max-spans, Zipkin stays up, keeps answering and holds no more than max-spans", async () => {
    const total = Math.round(zipkinMemory.maxSpans * 1.6);
    for (let sent = 0; sent < total; sent += 2_000) {
      const response = await fetch(zipkin.spansUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(spans(2_000)),
      });
      expect(response.status).toBe(202);
    }
    expect(await zipkin.healthy()).toBe(true);
    const traces = (await (
      await fetch(`${zipkin.url}/api/v2/traces?serviceName=baton-fill&limit=${total}&lookback=3600000`)
    ).json()) as unknown[];
    // Zipkin drops the oldest traces past max-spans (each span here is a trace of its own).
    expect(traces.length).toBeGreaterThan(0);
    expect(traces.length).toBeLessThanOrEqual(zipkinMemory.maxSpans);
    expect(zipkin.process.exitCode).toBeNull();
  }, 300_000);
});
