import { z } from "zod";
import { dataDirSetting } from "../common/data-dir.ts";
import { parseEnvironmentOrExit } from "../common/environment.ts";
import { faultsSetting } from "../common/faults.ts";
import { logLevels } from "../common/logger.ts";

/** The ticketing server's environment. */
export const ticketingConfigSchema = z.object({
  /** Directory holding `tickets.jsonl` and `refunds.jsonl`. */
  BATON_TOOLS_DATA_DIR: dataDirSetting,
  BATON_TOOLS_FAULTS: faultsSetting,
  BATON_LOG_LEVEL: z.enum(logLevels).default("info"),
});

/** The parsed settings. */
export type TicketingConfig = z.output<typeof ticketingConfigSchema>;

/** Reads the environment once; a bad key is named on stderr and the process exits 1. */
export function loadConfig(environment: Record<string, string | undefined> = process.env): TicketingConfig {
  return parseEnvironmentOrExit("ticketing", ticketingConfigSchema, environment);
}
