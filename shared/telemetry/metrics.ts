import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Logger } from "./logger.ts";
import type { LlmUsage } from "./llm-usage.ts";
import type { SpanExportSnapshot } from "./span-export-counts.ts";

/** A stage's Prometheus metrics: what flows in and out, how long it takes, what fails, and how far behind it is. */
export class StageMetrics {
  readonly registry = new Registry();
  readonly messagesIn: Counter<"topic">;
  readonly messagesOut: Counter<"topic">;
  readonly processingSeconds: Histogram<"topic">;
  readonly retries: Counter<"topic">;
  readonly deadLetters: Counter<"topic">;
  readonly consumerLag: Gauge<"topic" | "partition">;
  readonly toolCalls: Counter<"tool" | "status">;
  readonly toolCallSeconds: Histogram<"tool">;
  readonly toolCallsInFlight: Gauge<"tool">;
  readonly breakerOpen: Gauge<"tool">;
  /** 1 for each partition number of the stage's inputs this instance owns; reset and set again at each rebalance. */
  readonly ownedPartitions: Gauge<"partition">;
  readonly stateLoadSeconds: Gauge<"topic" | "partition">;
  /** Tokens language models used for this stage, by tenant, model and direction (input or output). */
  readonly llmTokens: Counter<"tenant" | "model" | "type">;
  private spanExport: () => SpanExportSnapshot | undefined = () => undefined;

  constructor(stage: string) {
    this.registry.setDefaultLabels({ stage });
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.messagesIn = new Counter({
      name: "baton_messages_in_total",
      help: "Messages consumed, by topic",
      labelNames: ["topic"],
      registers,
    });
    this.messagesOut = new Counter({
      name: "baton_messages_out_total",
      help: "Messages produced, by topic",
      labelNames: ["topic"],
      registers,
    });
    this.processingSeconds = new Histogram({
      name: "baton_processing_seconds",
      help: "Time to handle one message, from decode to its outputs being prepared",
      labelNames: ["topic"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.retries = new Counter({
      name: "baton_retries_total",
      help: "Messages sent to a retry topic, by origin topic",
      labelNames: ["topic"],
      registers,
    });
    this.deadLetters = new Counter({
      name: "baton_dead_letters_total",
      help: "Messages dead-lettered, by origin topic",
      labelNames: ["topic"],
      registers,
    });
    this.consumerLag = new Gauge({
      name: "baton_consumer_lag",
      help: "Messages behind the end of each assigned partition, as of the last batch",
      labelNames: ["topic", "partition"],
      registers,
    });
    this.toolCalls = new Counter({
      name: "baton_tool_calls_total",
      help: "Tool calls by tool and outcome",
      labelNames: ["tool", "status"],
      registers,
    });
    this.toolCallSeconds = new Histogram({
      name: "baton_tool_call_seconds",
      help: "Tool call latency",
      labelNames: ["tool"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.toolCallsInFlight = new Gauge({
      name: "baton_tool_calls_in_flight",
      help: "Tool calls running now",
      labelNames: ["tool"],
      registers,
    });
    this.breakerOpen = new Gauge({
      name: "baton_circuit_breaker_open",
      help: "1 while a tool's circuit breaker is open",
      labelNames: ["tool"],
      registers,
    });
    this.ownedPartitions = new Gauge({
      name: "baton_owned_partitions",
      help: "Partition numbers of the stage's inputs this instance owns (1 while owned)",
      labelNames: ["partition"],
      registers,
    });
    this.stateLoadSeconds = new Gauge({
      name: "baton_state_load_seconds",
      help: "How long the last load of an owned partition's state took (catch-up on a state topic), by partition",
      labelNames: ["topic", "partition"],
      registers,
    });
    this.llmTokens = new Counter({
      name: "baton_llm_tokens_total",
      help: "Tokens language models used, by tenant, model and type (input or output)",
      labelNames: ["tenant", "model", "type"],
      registers,
    });
    const spans = (): SpanExportSnapshot | undefined => this.spanExport();
    let exportedSeen = 0;
    new Counter({
      name: "baton_spans_exported_total",
      help: "Sampled spans the trace backend accepted",
      registers,
      collect() {
        const now = spans()?.exported ?? exportedSeen;
        this.inc(now - exportedSeen);
        exportedSeen = now;
      },
    });
    const droppedSeen = new Map<string, number>();
    new Counter({
      name: "baton_spans_dropped_total",
      help: "Sampled spans that never reached the trace backend: queue_full (the backend is slower than the spans come), export_failed (down, full or too slow), shutdown_timeout",
      labelNames: ["reason"],
      registers,
      collect() {
        for (const [reason, count] of Object.entries(spans()?.dropped ?? {})) {
          this.inc({ reason }, count - (droppedSeen.get(reason) ?? 0));
          droppedSeen.set(reason, count);
        }
      },
    });
    new Gauge({
      name: "baton_spans_queued",
      help: "Finished spans waiting to be exported",
      registers,
      collect() {
        this.set(spans()?.queued ?? 0);
      },
    });
  }

  /** Shows what the process's tracing exported and dropped as baton_spans_exported_total, _dropped_total, _queued. */
  trackSpanExport(source: () => SpanExportSnapshot): void {
    this.spanExport = source;
  }

  /** Counts one language-model call's tokens. */
  countLlmUsage(usage: LlmUsage): void {
    this.llmTokens.inc({ tenant: usage.tenant, model: usage.model, type: "input" }, usage.inputTokens);
    this.llmTokens.inc({ tenant: usage.tenant, model: usage.model, type: "output" }, usage.outputTokens);
  }
}

/** The HTTP endpoints of a stage: /metrics (Prometheus), /healthz (alive), /readyz (connected and assigned). */
export async function serveMetrics(options: {
  metrics: StageMetrics;
  port: number;
  ready: () => boolean;
  logger: Logger;
}): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (path === "/metrics") {
      options.metrics.registry.metrics().then(
        (text) => {
          response.writeHead(200, { "content-type": options.metrics.registry.contentType });
          response.end(text);
        },
        (error: unknown) => {
          response.writeHead(500);
          response.end(String(error));
        },
      );
    } else if (path === "/healthz") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end('{"status":"alive"}');
    } else if (path === "/readyz") {
      const ready = options.ready();
      response.writeHead(ready ? 200 : 503, { "content-type": "application/json" });
      response.end(JSON.stringify({ status: ready ? "ready" : "not ready" }));
    } else {
      response.writeHead(404);
      response.end();
    }
  });
  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  try {
    await listen(options.port);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    options.logger.warn(
      { port: options.port },
      "metrics port taken (another instance on this host?); using a free port",
    );
    await listen(0);
  }
  const port = (server.address() as AddressInfo).port;
  options.logger.info({ port, url: `http://127.0.0.1:${port}/metrics` }, "metrics and health endpoints listening");
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Records how long each owned partition of state tables took to load, dropping partitions no longer owned. */
export function recordStateLoads(
  metrics: StageMetrics,
  tables: Array<{ topic: string; loadStats(): ReadonlyMap<number, { catchUpMs: number }> }>,
): void {
  metrics.stateLoadSeconds.reset();
  for (const table of tables)
    for (const [partition, load] of table.loadStats())
      metrics.stateLoadSeconds.set({ topic: table.topic, partition: String(partition) }, load.catchUpMs / 1000);
}
