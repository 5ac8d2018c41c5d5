import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { backboneConfigSchema } from "../config.ts";
import { startTracing, type Tracing } from "./tracing.ts";
import type { ZipkinSpan } from "./zipkin-exporter.ts";

/** A stand-in Zipkin: `answer` decides per POST; "hang" reads the spans and never answers. */
async function fakeZipkin(answer: "ok" | "hang"): Promise<{ url: string; received: ZipkinSpan[]; server: Server }> {
  const received: ZipkinSpan[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push(...(JSON.parse(Buffer.concat(chunks).toString("utf8")) as ZipkinSpan[]));
      if (answer === "ok") response.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/spans`, received, server };
}

/** A port nothing listens on. */
async function closedPort(): Promise<string> {
  const { server, url } = await fakeZipkin("ok");
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return url;
}

const servers: Server[] = [];
const started: Tracing[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((tracing) => tracing.shutdown(100)));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

function tracingTo(url: string, env: Record<string, string> = {}): Tracing {
  const tracing = startTracing({
    serviceName: "baton-test",
    config: backboneConfigSchema.parse({
      OTEL_TRACES_EXPORTER: "zipkin",
      OTEL_EXPORTER_ZIPKIN_ENDPOINT: url,
      OTEL_TRACES_SAMPLER: "always_on",
      ...env,
    }),
  });
  started.push(tracing);
  return tracing;
}

function endSpans(tracing: Tracing, count: number): void {
  for (let index = 0; index < count; index++) tracing.tracer.startSpan(`work ${index}`).end();
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("span export", () => {
  it("sends finished spans to Zipkin in its v2 format and counts them as exported", async () => {
    const zipkin = await fakeZipkin("ok");
    const tracing = tracingTo(zipkin.url);
    tracing.tracer.startSpan("submit request", { attributes: { "baton.request_id": "r-1" } }).end();
    await tracing.shutdown();
    expect(zipkin.received).toMatchObject([
      { name: "submit request", localEndpoint: { serviceName: "baton-test" }, tags: { "baton.request_id": "r-1" } },
    ]);
    expect(tracing.exportCounts()).toMatchObject({ exported: 1, queued: 0 });
  });

  it("shutdown gives up within its bound when Zipkin never answers, and counts the spans it gave up on", async () => {
    const zipkin = await fakeZipkin("hang");
    const tracing = tracingTo(zipkin.url);
    endSpans(tracing, 5);
    const began = performance.now();
    await tracing.shutdown(300);
    expect(performance.now() - began).toBeLessThan(1_000);
    expect(tracing.exportCounts().dropped.shutdown_timeout).toBe(5);
  });

  it("a POST Zipkin does not answer is abandoned after OTEL_BSP_EXPORT_TIMEOUT and its spans counted as failed", async () => {
    const zipkin = await fakeZipkin("hang");
    const tracing = tracingTo(zipkin.url, { OTEL_BSP_EXPORT_TIMEOUT: "200" });
    endSpans(tracing, 3);
    await until(() => tracing.exportCounts().dropped.export_failed === 3);
  });

  it("Zipkin down: exports fail at once, spans are counted as failed, and nothing throws", async () => {
    const tracing = tracingTo(await closedPort());
    endSpans(tracing, 4);
    await until(() => tracing.exportCounts().dropped.export_failed === 4);
    const began = performance.now();
    await tracing.shutdown();
    expect(performance.now() - began).toBeLessThan(500);
  });

  it("keeps at most OTEL_BSP_MAX_QUEUE_SIZE spans waiting and counts the rest as dropped", async () => {
    const zipkin = await fakeZipkin("hang");
    const tracing = tracingTo(zipkin.url, { OTEL_BSP_MAX_QUEUE_SIZE: "20" });
    endSpans(tracing, 20);
    // The first 20 leave in one POST that hangs; 20 more fill the queue; the last 30 are dropped.
    await until(() => zipkin.received.length === 20);
    endSpans(tracing, 50);
    expect(tracing.exportCounts()).toMatchObject({ queued: 20, dropped: { queue_full: 30 } });
  });

  it("spans of a trace not sampled are neither exported nor counted", async () => {
    const zipkin = await fakeZipkin("ok");
    const tracing = tracingTo(zipkin.url, { OTEL_TRACES_SAMPLER: "parentbased_always_off" });
    endSpans(tracing, 10);
    await tracing.shutdown();
    expect(zipkin.received).toEqual([]);
    expect(tracing.exportCounts()).toEqual({
      exported: 0,
      queued: 0,
      dropped: { queue_full: 0, export_failed: 0, shutdown_timeout: 0 },
    });
  });
});
