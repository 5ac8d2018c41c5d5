import { z } from "zod";
import { backboneConfigSchema, workflowsDirKey } from "../../shared/config.ts";
import { fromRoot } from "../../shared/paths.ts";
import { llmConfigSchema, refineLlmConfig } from "../../shared/llm/llm-config.ts";

/** The planner's environment. */
export const plannerConfigSchema = backboneConfigSchema
  .extend({
    /** Folders of workflow files, comma-separated. */
    WORKFLOWS_DIR: workflowsDirKey,
    /** Tenants are the ones the policy file names. */
    POLICY_FILE: z.string().min(1).default(fromRoot("policies", "default.yaml")),
    PLANNER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(6),
    /** Port of /metrics, /healthz and /readyz. */
    METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
    /** A run's deadline when neither the request (metadata deadlineMs) nor its workflow sets one. */
    PLANNER_DEADLINE_MS: z.coerce.number().int().positive().default(300_000),
    /**
     * Follow-up rounds of an LLM-planned run: when its steps all succeeded, the LLM reads their (screened, fenced)
     * output and may add steps, this many times at most; 0 (the default) never asks.
     */
    PLANNER_LLM_FOLLOW_UPS: z.coerce.number().int().min(0).max(10).default(0),
    ...llmConfigSchema.shape,
  })
  .superRefine(refineLlmConfig);

/** The planner's parsed settings. */
export type PlannerConfig = z.output<typeof plannerConfigSchema>;
