import {
  createNoopMeter,
  type Attributes,
  type Counter,
  type Meter,
  type MeterProvider,
  type ObservableCallback,
  type ObservableUpDownCounter,
} from "@opentelemetry/api";

/** Why finished spans never reached the trace backend. */
export type SpanDropReason = "queue_full" | "export_failed" | "shutdown_timeout";

/** What a process's span processor did with its finished, sampled spans, since the process started. */
export interface SpanExportSnapshot {
  exported: number;
  dropped: Record<SpanDropReason, number>;
  /** Finished spans waiting for an export now. */
  queued: number;
}

/** The batch span processor's self-observability instruments (OpenTelemetry semantic conventions for the SDK). */
const processedSpans = "otel.sdk.processor.span.processed";
const queueSize = "otel.sdk.processor.span.queue.size";

/**
 * Counts exported and dropped spans from the numbers the batch span processor reports about itself: it is handed
 * {@link meterProvider} as its `selfObsMeterProvider` and counts a full queue as `error.type=queue_full` and a failed
 * export under the error's name.
 */
export class SpanExportCounts {
  private exported = 0;
  private readonly dropped: Record<SpanDropReason, number> = {
    queue_full: 0,
    export_failed: 0,
    shutdown_timeout: 0,
  };
  private readonly queueCallbacks = new Set<ObservableCallback>();

  /** A MeterProvider whose only live instruments are the span processor's processed-span counter and queue size. */
  readonly meterProvider: MeterProvider = { getMeter: () => this.meter() };

  /** Records the spans still queued, and `inFlight` being sent, as lost: the process stops without waiting longer. */
  dropUnfinished(inFlight: number): void {
    this.dropped.shutdown_timeout += this.queued() + inFlight;
  }

  snapshot(): SpanExportSnapshot {
    return { exported: this.exported, dropped: { ...this.dropped }, queued: this.queued() };
  }

  private queued(): number {
    let total = 0;
    for (const callback of this.queueCallbacks) void callback({ observe: (value) => (total += value) });
    return total;
  }

  private meter(): Meter {
    const noop = createNoopMeter();
    const counter: Counter = {
      add: (value: number, attributes?: Attributes) => {
        const errorType = attributes?.["error.type"];
        if (errorType === undefined) this.exported += value;
        else if (errorType === "queue_full") this.dropped.queue_full += value;
        else this.dropped.export_failed += value;
      },
    };
    const queue: ObservableUpDownCounter = {
      addCallback: (callback) => void this.queueCallbacks.add(callback),
      removeCallback: (callback) => void this.queueCallbacks.delete(callback),
    };
    return Object.assign(Object.create(noop) as Meter, {
      createCounter: (name: string, options?: object) =>
        name === processedSpans ? counter : noop.createCounter(name, options),
      createObservableUpDownCounter: (name: string, options?: object) =>
        name === queueSize ? queue : noop.createObservableUpDownCounter(name, options),
    });
  }
}
