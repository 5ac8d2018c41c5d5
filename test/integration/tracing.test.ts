import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { context, trace } from "@opentelemetry/api";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { readTopic } from "../../shared/kafka/topic-reader.ts";
import { eventually, openHarness, sampleRequest, type Harness } from "./harness.ts";

interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind?: string;
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
}

const zipkin = "http://127.0.0.1:9411";

describe("one trace across processes", () => {
  let harness: Harness;
  let relay: ChildProcess | undefined;
  let relayLog = "";

  beforeAll(async () => {
    harness = await openHarness("baton-test-origin", {
      OTEL_TRACES_EXPORTER: "zipkin",
      OTEL_TRACES_SAMPLER: "always_on",
    });
  });

  afterAll(async () => {
    relay?.kill("SIGKILL");
    await harness.close();
  });

  it("spans of two processes are linked through the traceparent Kafka header and read back from Zipkin; SIGTERM stops the stage cleanly", async () => {
    const input = harness.uniqueTopic("trace-in");
    const output = harness.uniqueTopic("trace-out");
    await harness.createTopic(input, { record: "baton.Request" });
    await harness.createTopic(output, { record: "baton.Request" });
    const group = `test-relay-${randomUUID()}`;

    relay = spawn(process.execPath, ["test/integration/fixtures/relay-stage.ts"], {
      env: {
        ...process.env,
        RELAY_INPUT: input,
        RELAY_OUTPUT: output,
        RELAY_GROUP: group,
        OTEL_TRACES_EXPORTER: "zipkin",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    relay.stderr?.on("data", (chunk: Buffer) => (relayLog += chunk.toString()));
    await eventually(() => (relayLog.includes("relay ready") ? true : undefined), 60_000);

    const { kafka, codec, tracing } = harness.backbone;
    const producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
    const requestId = `trace-${randomUUID()}`;
    const span = tracing.tracer.startSpan("submit request");
    const traceId = span.spanContext().traceId;
    await context.with(trace.setSpan(context.active(), span), () =>
      producer.send([{ topic: input, key: requestId, value: sampleRequest(requestId) }]),
    );
    span.end();
    await producer.disconnect();

    const relayed = await readTopic({ kafka, codec, topic: output, timeoutMs: 30_000, until: (m) => m.length >= 1 });
    expect(relayed[0]?.key).toBe(requestId);
    expect(relayed[0]?.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

    const exited = new Promise<number | null>((resolve) => relay?.once("exit", (code) => resolve(code)));
    relay.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect((await harness.admin.groupOffsets(group, input)).get(0)).toBe("1");
    expect(relayLog).toMatch(
      new RegExp(`"trace_id":"${traceId}"[^\\n]*"msg":"relaying"|"msg":"relaying"[^\\n]*"trace_id":"${traceId}"`),
    );
    await tracing.shutdown();

    const spans = await eventually(async () => {
      const response = await fetch(`${zipkin}/api/v2/trace/${traceId}`);
      if (!response.ok) return undefined;
      const found = (await response.json()) as ZipkinSpan[];
      const services = new Set(found.map((s) => s.localEndpoint?.serviceName));
      return services.has("baton-test-origin") && services.has("baton-test-relay") && found.length >= 4
        ? found
        : undefined;
    }, 30_000);

    const originSend = spans.find(
      (s) => s.localEndpoint?.serviceName === "baton-test-origin" && s.name === `send ${input}`,
    );
    const relayProcess = spans.find(
      (s) => s.localEndpoint?.serviceName === "baton-test-relay" && s.name === `process ${input}`,
    );
    const relaySend = spans.find(
      (s) => s.localEndpoint?.serviceName === "baton-test-relay" && s.name === `send ${output}`,
    );
    expect(originSend?.kind).toBe("PRODUCER");
    expect(relayProcess?.kind).toBe("CONSUMER");
    expect(relayProcess?.parentId).toBe(originSend?.id);
    expect(relayProcess?.tags?.["messaging.destination.name"]).toBe(input);
    expect(relayProcess?.tags?.["messaging.consumer.group.name"]).toBe(group);
    expect(relaySend?.parentId).toBe(relayProcess?.id);
  });
});
