import { z } from "zod";
import { backboneConfigSchema } from "../../shared/config.ts";
import { fromRoot } from "../../shared/paths.ts";

/** The policy stage's environment. */
export const policyConfigSchema = backboneConfigSchema.extend({
  POLICY_FILE: z.string().min(1).default(fromRoot("policies", "default.yaml")),
  POLICY_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(6),
  /** Port of /metrics, /healthz and /readyz. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9465),
});
