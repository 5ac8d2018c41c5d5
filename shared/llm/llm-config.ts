import { z } from "zod";

/** Settings of the optional LLM, shared by the planner and the summarizer; none means fully offline. */
export const llmConfigSchema = z.object({
  LLM_PROVIDER: z.enum(["none", "openai", "anthropic"]).default("none"),
  LLM_MODEL: z.string().min(1).optional(),
  /**
   * The API's base URL; the provider's own when unset. OpenAI-compatible endpoints (vLLM, Ollama, a gateway) end
   * in `/v1`; for Anthropic it is the root (the SDK adds `/v1/messages`).
   */
  LLM_BASE_URL: z.url().optional(),
  LLM_API_KEY: z.string().min(1).optional(),
  LLM_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
});

/** The parsed LLM settings. */
export type LlmConfig = z.output<typeof llmConfigSchema>;

/** Cross-key checks: a provider needs a model, and a key unless it is a local OpenAI-compatible endpoint. */
export function llmConfigProblems(config: LlmConfig): Array<{ key: string; message: string }> {
  if (config.LLM_PROVIDER === "none") return [];
  const problems: Array<{ key: string; message: string }> = [];
  if (config.LLM_MODEL === undefined)
    problems.push({ key: "LLM_MODEL", message: `required when LLM_PROVIDER=${config.LLM_PROVIDER}` });
  if (config.LLM_API_KEY === undefined && !(config.LLM_PROVIDER === "openai" && config.LLM_BASE_URL !== undefined)) {
    problems.push({ key: "LLM_API_KEY", message: `required when LLM_PROVIDER=${config.LLM_PROVIDER}` });
  }
  return problems;
}

/** Adds the cross-key checks to a stage's config schema, so a bad LLM setting fails at start like any other. */
export function refineLlmConfig(config: LlmConfig, context: z.RefinementCtx): void {
  for (const problem of llmConfigProblems(config)) {
    context.addIssue({ code: "custom", path: [problem.key], message: problem.message });
  }
}
