import { pino, type Logger, type LevelWithSilent } from "pino";

/** Log levels a tool server accepts in BATON_LOG_LEVEL. */
export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/**
 * A pino JSON logger writing synchronously to stderr: stdout is the MCP channel of a stdio server, and a
 * synchronous write keeps the last line before an injected crash.
 */
export function createToolLogger(service: string, level: LevelWithSilent): Logger {
  return pino(
    { level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 2, sync: true }),
  );
}

export type { Logger, LevelWithSilent };
