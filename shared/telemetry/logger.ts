import { pino, type Logger, type LevelWithSilent } from "pino";
import { trace, context } from "@opentelemetry/api";

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  service: string;
  level?: LevelWithSilent;
  /** Where lines go; defaults to stderr so stdout stays free for people and pipes. */
  destination?: pino.DestinationStream;
}

/**
 * A pino JSON logger whose every line carries the service name and, inside a span, its trace_id and
 * span_id, so a log line can be found from a trace and the other way round.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin() {
        const span = trace.getSpan(context.active());
        if (span === undefined) return {};
        const { traceId, spanId } = span.spanContext();
        return { trace_id: traceId, span_id: spanId };
      },
    },
    options.destination ?? pino.destination(2),
  );
}

export type { Logger };
