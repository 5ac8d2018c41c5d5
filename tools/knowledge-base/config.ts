import { fileURLToPath } from "node:url";
import { z } from "zod";
import { parseEnvironmentOrExit } from "../common/environment.ts";
import { faultsSetting } from "../common/faults.ts";
import { logLevels } from "../common/logger.ts";

/** The knowledge-base server's environment. */
export const knowledgeBaseConfigSchema = z.object({
  /** Directory of the `*.md` articles to search; defaults to the articles shipped beside the server. */
  KNOWLEDGE_BASE_DOCUMENTS_DIR: z
    .string()
    .min(1)
    .default(fileURLToPath(new URL("documents", import.meta.url))),
  BATON_TOOLS_FAULTS: faultsSetting,
  BATON_LOG_LEVEL: z.enum(logLevels).default("info"),
});

/** The parsed settings. */
export type KnowledgeBaseConfig = z.output<typeof knowledgeBaseConfigSchema>;

/** Reads the environment once; a bad key is named on stderr and the process exits 1. */
export function loadConfig(environment: Record<string, string | undefined> = process.env): KnowledgeBaseConfig {
  return parseEnvironmentOrExit("knowledge-base", knowledgeBaseConfigSchema, environment);
}
