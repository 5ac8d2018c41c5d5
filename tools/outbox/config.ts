import { z } from "zod";
import { dataDirSetting } from "../common/data-dir.ts";
import { parseEnvironmentOrExit } from "../common/environment.ts";
import { faultsSetting } from "../common/faults.ts";
import { logLevels } from "../common/logger.ts";

/** The outbox server's environment. */
export const outboxConfigSchema = z.object({
  OUTBOX_HOST: z.string().min(1).default("127.0.0.1"),
  /** TCP port of the HTTP server; 0 picks a free one (the "listening" log line says which). */
  OUTBOX_PORT: z.coerce.number().int().min(0).max(65_535).default(8791),
  /** Directory holding `outbox.jsonl`. */
  BATON_TOOLS_DATA_DIR: dataDirSetting,
  BATON_TOOLS_FAULTS: faultsSetting,
  BATON_LOG_LEVEL: z.enum(logLevels).default("info"),
});

/** The parsed settings. */
export type OutboxConfig = z.output<typeof outboxConfigSchema>;

/** Reads the environment once; a bad key is named on stderr and the process exits 1. */
export function loadConfig(environment: Record<string, string | undefined> = process.env): OutboxConfig {
  return parseEnvironmentOrExit("outbox", outboxConfigSchema, environment);
}
