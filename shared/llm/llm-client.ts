import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { BatonError } from "../errors.ts";
import type { LlmConfig } from "./llm-config.ts";

/** One exchange with a language model: instructions and a prompt in, text out. */
export interface LlmClient {
  readonly model: string;
  complete(request: { system: string; prompt: string; json: boolean }): Promise<string>;
}

function failure(provider: string, error: unknown): BatonError {
  const message = error instanceof Error ? error.message : String(error);
  const status = (error as { status?: number }).status;
  const retriable = status === undefined || status === 429 || status >= 500;
  return new BatonError(retriable ? "TIMEOUT" : "INVALID_INPUT", `${provider} call failed: ${message}`, {
    cause: error,
    retriable,
  });
}

/** OpenAI's Chat Completions API, or any OpenAI-compatible endpoint, through the official SDK. */
export class OpenAiClient implements LlmClient {
  readonly model: string;
  private readonly client: OpenAI;

  constructor(options: {
    model: string;
    apiKey?: string | undefined;
    baseUrl?: string | undefined;
    timeoutMs: number;
  }) {
    this.model = options.model;
    this.client = new OpenAI({
      apiKey: options.apiKey ?? "not-needed",
      ...(options.baseUrl === undefined ? {} : { baseURL: options.baseUrl }),
      timeout: options.timeoutMs,
      maxRetries: 1,
    });
  }

  async complete(request: { system: string; prompt: string; json: boolean }): Promise<string> {
    try {
      const completion = await this.client.chat.completions.create({
        model: this.model,
        messages: [
          { role: "system", content: request.system },
          { role: "user", content: request.prompt },
        ],
        ...(request.json ? { response_format: { type: "json_object" as const } } : {}),
      });
      return completion.choices[0]?.message.content ?? "";
    } catch (error) {
      throw failure("openai", error);
    }
  }
}

/** Anthropic's Messages API through the official SDK. */
export class AnthropicClient implements LlmClient {
  readonly model: string;
  private readonly client: Anthropic;

  constructor(options: {
    model: string;
    apiKey?: string | undefined;
    baseUrl?: string | undefined;
    timeoutMs: number;
  }) {
    this.model = options.model;
    this.client = new Anthropic({
      ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
      ...(options.baseUrl === undefined ? {} : { baseURL: options.baseUrl }),
      timeout: options.timeoutMs,
      maxRetries: 1,
    });
  }

  async complete(request: { system: string; prompt: string; json: boolean }): Promise<string> {
    try {
      const message = await this.client.messages.create({
        model: this.model,
        max_tokens: 2048,
        system: request.system,
        messages: [{ role: "user", content: request.prompt }],
      });
      return message.content.map((block) => (block.type === "text" ? block.text : "")).join("");
    } catch (error) {
      throw failure("anthropic", error);
    }
  }
}

/** The configured client, or undefined when no LLM is configured. */
export function createLlmClient(config: LlmConfig): LlmClient | undefined {
  if (config.LLM_PROVIDER === "none" || config.LLM_MODEL === undefined) return undefined;
  const options = {
    model: config.LLM_MODEL,
    apiKey: config.LLM_API_KEY,
    baseUrl: config.LLM_BASE_URL,
    timeoutMs: config.LLM_TIMEOUT_MS,
  };
  return config.LLM_PROVIDER === "openai" ? new OpenAiClient(options) : new AnthropicClient(options);
}
