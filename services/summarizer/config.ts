import { z } from "zod";
import { backboneConfigSchema } from "../../shared/config.ts";
import { fromRoot } from "../../shared/paths.ts";
import { llmConfigSchema, refineLlmConfig } from "../../shared/llm/llm-config.ts";

/** The summarizer's environment. */
export const summarizerConfigSchema = backboneConfigSchema
  .extend({
    /** The policy file: its tenants' toolOutput rules screen tool output before the LLM reads it. */
    POLICY_FILE: z.string().min(1).default(fromRoot("policies", "default.yaml")),
    SUMMARIZER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(6),
    /** Port of /metrics, /healthz and /readyz. */
    METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9467),
    ...llmConfigSchema.shape,
  })
  .superRefine(refineLlmConfig);
