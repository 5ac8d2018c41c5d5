import { z } from "zod";
import { backboneConfigSchema } from "../../shared/config.ts";
import { fromRoot, repositoryRoot } from "../../shared/paths.ts";

/** The executor's environment. */
export const executorConfigSchema = backboneConfigSchema.extend({
  MCP_SERVERS_FILE: z.string().min(1).default(fromRoot("config", "mcp-servers.yaml")),
  /** Where stdio servers and started HTTP servers run. */
  MCP_SERVERS_CWD: z.string().min(1).default(repositoryRoot),
  EXECUTOR_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(6),
  /** Tool calls of one partition running at once; a partition is paused while it has this many. */
  EXECUTOR_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(10_000).default(64),
  /** Port of /metrics, /healthz and /readyz. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9466),
});
