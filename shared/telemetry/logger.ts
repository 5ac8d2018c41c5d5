import { pino, type Logger, type LevelWithSilent } from "pino";
import { trace, context } from "@opentelemetry/api";
import { logContext } from "./log-context.ts";

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  service: string;
  level?: LevelWithSilent;
  /** Where lines go; defaults to stderr so stdout stays free for people and pipes. */
  destination?: pino.DestinationStream;
}

/**
 * A pino JSON logger whose every line carries the service name; inside a span, its trace_id and span_id,
 * so a log line can be found from a trace and the other way round; and while a message is handled, the
 * fields of {@link withLogContext} (requestId, stage, tool, attempt).
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin() {
        const fields = logContext();
        const span = trace.getSpan(context.active());
        if (span === undefined) return fields;
        const { traceId, spanId } = span.spanContext();
        return { ...fields, trace_id: traceId, span_id: spanId };
      },
    },
    options.destination ?? pino.destination(2),
  );
}

export type { Logger };
