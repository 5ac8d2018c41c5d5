import { describe, expect, it } from "vitest";
import { propagation } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import type { CliClient } from "./client.ts";
import { redrive, staleLetters } from "./dlq-command.ts";
import { deadLetterRetentionMs, stateRetentionMs } from "../shared/topics.ts";
import { deadLetterHeaders } from "../shared/kafka/headers.ts";
import { redriveHeaders } from "../shared/kafka/retry-routing.ts";
import type { RawOutgoingMessage } from "../shared/kafka/producer.ts";
import type { ReadMessage } from "../shared/kafka/topic-reader.ts";

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const deadLetterSpanId = "00f067aa0ba902b7";

function deadLetter(): ReadMessage {
  return {
    topic: "baton.requests.dlq",
    partition: 2,
    offset: "17",
    key: "req-1",
    value: null,
    raw: Buffer.from("bytes"),
    timestamp: Date.now(),
    attempt: 4,
    headers: {
      traceparent: `00-${traceId}-${deadLetterSpanId}-01`,
      [deadLetterHeaders.originTopic]: "baton.requests",
      [deadLetterHeaders.reason]: "broker down",
      "baton-attempt": "4",
    },
  };
}

describe("redrive", () => {
  it("sends a dead letter back to its origin under a redrive span in the request's trace, linked to the dead letter", async () => {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const sent: RawOutgoingMessage[] = [];
    const client = {
      backbone: { tracing: { tracer: provider.getTracer("test") } },
      producer: {
        sendRaw: (messages: RawOutgoingMessage[]) => {
          sent.push(...messages);
          return Promise.resolve();
        },
      },
    } as unknown as CliClient;

    expect(await redrive(client, [deadLetter()])).toEqual([{ key: "req-1", to: "baton.requests" }]);

    expect(sent).toHaveLength(1);
    expect(sent[0]?.topic).toBe("baton.requests");
    expect(sent[0]?.headers?.[redriveHeaders.from]).toBe("baton.requests.dlq/2/17");
    expect(sent[0]?.headers?.[deadLetterHeaders.reason]).toBeUndefined();
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe("redrive baton.requests");
    expect(span?.spanContext().traceId).toBe(traceId);
    expect(span?.parentSpanContext?.spanId).toBe(deadLetterSpanId);
    expect(span?.links.map((link) => link.context.spanId)).toEqual([deadLetterSpanId]);
    expect(span?.attributes["baton.request_id"]).toBe("req-1");
  });
});

describe("stale dead letters", () => {
  const day = 86_400_000;
  const now = Date.parse("2026-12-01T00:00:00Z");
  const aged = (ageMs: number): ReadMessage => ({ ...deadLetter(), timestamp: now - ageMs });

  it("counts a letter as stale once its records may be gone (their retention less an hour), not before", () => {
    const fresh = aged(6 * day);
    const edge = aged(7 * day - 30 * 60_000);
    const old = aged(8 * day);
    expect(staleLetters([fresh, edge, old], 7 * day, now)).toEqual([edge, old]);
  });

  it("counts no letter kept by the declared retentions as stale", () => {
    expect(staleLetters([aged(deadLetterRetentionMs)], stateRetentionMs, now)).toEqual([]);
  });
});
