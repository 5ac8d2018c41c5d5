import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { BatonError } from "../errors.ts";
import { reportLlmUsage } from "../telemetry/llm-usage.ts";
import { tenantOf } from "../telemetry/propagation.ts";
import type { LlmConfig } from "./llm-config.ts";

/** One exchange with a language model: instructions and a prompt in, text out. */
export interface LlmClient {
  readonly model: string;
  complete(request: { system: string; prompt: string; json: boolean }): Promise<string>;
  /** Like `complete`, telling each piece of text as the model writes it; the whole text at the end. */
  stream?(request: { system: string; prompt: string }, onText: (piece: string) => void): Promise<string>;
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

/** What a provider answered: the text, the model that answered and the tokens it counted. */
interface Completion {
  text: string;
  responseModel: string | undefined;
  inputTokens: number | undefined;
  outputTokens: number | undefined;
}

/**
 * Runs one model call in a CLIENT span named and tagged as the OpenTelemetry GenAI conventions say (`chat {model}`,
 * gen_ai.* attributes, token usage), and reports its tokens for the tenant in the trace's baggage.
 */
async function tracedChat(provider: string, model: string, call: () => Promise<Completion>): Promise<string> {
  const tenant = tenantOf() ?? "unknown";
  const span = trace.getTracer("baton").startSpan(`chat ${model}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": provider,
      "gen_ai.request.model": model,
      "baton.tenant": tenant,
    },
  });
  try {
    const completion = await call();
    if (completion.responseModel !== undefined) span.setAttribute("gen_ai.response.model", completion.responseModel);
    if (completion.inputTokens !== undefined) span.setAttribute("gen_ai.usage.input_tokens", completion.inputTokens);
    if (completion.outputTokens !== undefined) span.setAttribute("gen_ai.usage.output_tokens", completion.outputTokens);
    reportLlmUsage({
      tenant,
      provider,
      model,
      inputTokens: completion.inputTokens ?? 0,
      outputTokens: completion.outputTokens ?? 0,
    });
    return completion.text;
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    span.setAttribute("error.type", typeof status === "number" ? String(status) : (error as Error).name);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    throw failure(provider, error);
  } finally {
    span.end();
  }
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
    return tracedChat("openai", this.model, async () => {
      const completion = await this.client.chat.completions.create({
        model: this.model,
        messages: [
          { role: "system", content: request.system },
          { role: "user", content: request.prompt },
        ],
        ...(request.json ? { response_format: { type: "json_object" as const } } : {}),
      });
      return {
        text: completion.choices[0]?.message.content ?? "",
        responseModel: completion.model,
        inputTokens: completion.usage?.prompt_tokens,
        outputTokens: completion.usage?.completion_tokens,
      };
    });
  }

  async stream(request: { system: string; prompt: string }, onText: (piece: string) => void): Promise<string> {
    return tracedChat("openai", this.model, async () => {
      const chunks = await this.client.chat.completions.create({
        model: this.model,
        messages: [
          { role: "system", content: request.system },
          { role: "user", content: request.prompt },
        ],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = "";
      let responseModel: string | undefined;
      let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
      for await (const chunk of chunks) {
        const piece = chunk.choices[0]?.delta.content ?? "";
        if (piece !== "") {
          text += piece;
          onText(piece);
        }
        responseModel = chunk.model;
        if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage;
      }
      return {
        text,
        responseModel,
        inputTokens: usage?.prompt_tokens,
        outputTokens: usage?.completion_tokens,
      };
    });
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
    return tracedChat("anthropic", this.model, async () => {
      const message = await this.client.messages.create({
        model: this.model,
        max_tokens: 2048,
        system: request.system,
        messages: [{ role: "user", content: request.prompt }],
      });
      return {
        text: message.content.map((block) => (block.type === "text" ? block.text : "")).join(""),
        responseModel: message.model,
        inputTokens: message.usage.input_tokens,
        outputTokens: message.usage.output_tokens,
      };
    });
  }

  async stream(request: { system: string; prompt: string }, onText: (piece: string) => void): Promise<string> {
    return tracedChat("anthropic", this.model, async () => {
      const stream = this.client.messages.stream({
        model: this.model,
        max_tokens: 2048,
        system: request.system,
        messages: [{ role: "user", content: request.prompt }],
      });
      stream.on("text", (piece) => onText(piece));
      const message = await stream.finalMessage();
      return {
        text: message.content.map((block) => (block.type === "text" ? block.text : "")).join(""),
        responseModel: message.model,
        inputTokens: message.usage.input_tokens,
        outputTokens: message.usage.output_tokens,
      };
    });
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
