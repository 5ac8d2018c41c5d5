import { describe, it, expect } from "vitest";
import { parseConfig } from "../config.ts";
import { BatonError } from "../errors.ts";
import { plannerConfigSchema } from "../../services/planner/config.ts";
import { summarizerConfigSchema } from "../../services/summarizer/config.ts";
import { llmConfigProblems, llmConfigSchema } from "./llm-config.ts";

/** The error parseConfig throws for an environment, or a failure when it accepts it. */
function configError(env: Record<string, string>): BatonError {
  try {
    parseConfig(plannerConfigSchema, env);
  } catch (error) {
    if (error instanceof BatonError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe("llmConfigSchema", () => {
  it("with no variables set the provider is none and calls time out after 30 s", () => {
    expect(llmConfigSchema.parse({})).toEqual({ LLM_PROVIDER: "none", LLM_TIMEOUT_MS: 30_000 });
  });

  it("LLM_TIMEOUT_MS is read from its text as a number", () => {
    expect(llmConfigSchema.parse({ LLM_TIMEOUT_MS: "2500" }).LLM_TIMEOUT_MS).toBe(2500);
  });
});

describe("llmConfigProblems", () => {
  it("provider none needs nothing else", () => {
    expect(llmConfigProblems(llmConfigSchema.parse({ LLM_PROVIDER: "none" }))).toEqual([]);
  });

  it("openai with neither model nor key nor base URL names LLM_MODEL and LLM_API_KEY", () => {
    expect(llmConfigProblems(llmConfigSchema.parse({ LLM_PROVIDER: "openai" }))).toEqual([
      { key: "LLM_MODEL", message: "required when LLM_PROVIDER=openai" },
      { key: "LLM_API_KEY", message: "required when LLM_PROVIDER=openai" },
    ]);
  });

  it("an OpenAI-compatible base URL stands in for the key, but not for an Anthropic key", () => {
    const base = { LLM_MODEL: "m", LLM_BASE_URL: "http://127.0.0.1:8000/v1" };
    expect(llmConfigProblems(llmConfigSchema.parse({ ...base, LLM_PROVIDER: "openai" }))).toEqual([]);
    expect(llmConfigProblems(llmConfigSchema.parse({ ...base, LLM_PROVIDER: "anthropic" }))).toEqual([
      { key: "LLM_API_KEY", message: "required when LLM_PROVIDER=anthropic" },
    ]);
  });
});

describe("the planner's config with LLM settings", () => {
  it("provider none needs nothing and the defaults stand", () => {
    const config = parseConfig(plannerConfigSchema, { LLM_PROVIDER: "none" });
    expect(config).toMatchObject({ LLM_PROVIDER: "none", LLM_TIMEOUT_MS: 30_000 });
    expect(config.LLM_MODEL).toBeUndefined();
  });

  it("openai without a model and without a key or base URL fails naming both LLM_MODEL and LLM_API_KEY", () => {
    const error = configError({ LLM_PROVIDER: "openai" });
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.details).toEqual({ keys: ["LLM_MODEL", "LLM_API_KEY"] });
    expect(error.message).toContain("LLM_MODEL: required when LLM_PROVIDER=openai");
    expect(error.message).toContain("LLM_API_KEY: required when LLM_PROVIDER=openai");
  });

  it("openai with a model and a base URL needs no key", () => {
    const config = parseConfig(plannerConfigSchema, {
      LLM_PROVIDER: "openai",
      LLM_MODEL: "llama3",
      LLM_BASE_URL: "http://127.0.0.1:11434/v1",
    });
    expect(config).toMatchObject({
      LLM_PROVIDER: "openai",
      LLM_MODEL: "llama3",
      LLM_BASE_URL: "http://127.0.0.1:11434/v1",
    });
    expect(config.LLM_API_KEY).toBeUndefined();
  });

  it("openai with a model and a key but no base URL is accepted", () => {
    const config = parseConfig(plannerConfigSchema, { LLM_PROVIDER: "openai", LLM_MODEL: "gpt", LLM_API_KEY: "sk" });
    expect(config).toMatchObject({ LLM_PROVIDER: "openai", LLM_MODEL: "gpt", LLM_API_KEY: "sk" });
  });

  it("anthropic with a model but no key fails naming LLM_API_KEY only", () => {
    const error = configError({ LLM_PROVIDER: "anthropic", LLM_MODEL: "claude" });
    expect(error.details).toEqual({ keys: ["LLM_API_KEY"] });
    expect(error.message).toContain("LLM_API_KEY: required when LLM_PROVIDER=anthropic");
  });

  it("anthropic with a model and a key is accepted", () => {
    const config = parseConfig(plannerConfigSchema, {
      LLM_PROVIDER: "anthropic",
      LLM_MODEL: "claude",
      LLM_API_KEY: "key",
    });
    expect(config).toMatchObject({ LLM_PROVIDER: "anthropic", LLM_MODEL: "claude", LLM_API_KEY: "key" });
  });

  it("a provider name that is not none, openai or anthropic is named", () => {
    const error = configError({ LLM_PROVIDER: "gemini", LLM_MODEL: "m", LLM_API_KEY: "k" });
    expect(error.details).toEqual({ keys: ["LLM_PROVIDER"] });
    expect(error.message).toContain("LLM_PROVIDER:");
    expect(error.message).toContain('"openai"');
  });

  it("a base URL that is not a URL and a timeout that is not a positive number are both named", () => {
    const error = configError({
      LLM_PROVIDER: "openai",
      LLM_MODEL: "m",
      LLM_BASE_URL: "localhost port 8000",
      LLM_TIMEOUT_MS: "0",
    });
    expect(error.details).toEqual({ keys: ["LLM_BASE_URL", "LLM_TIMEOUT_MS"] });
  });
});

describe("the summarizer's config with LLM settings", () => {
  it("applies the same cross-key checks as the planner", () => {
    expect(() => parseConfig(summarizerConfigSchema, { LLM_PROVIDER: "anthropic", LLM_MODEL: "claude" })).toThrow(
      "LLM_API_KEY: required when LLM_PROVIDER=anthropic",
    );
    expect(parseConfig(summarizerConfigSchema, {}).LLM_PROVIDER).toBe("none");
  });
});
