import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, it, expect } from "vitest";
import { context, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { BatonError } from "../errors.ts";
import { backboneConfigSchema } from "../config.ts";
import { onLlmUsage, type LlmUsage } from "../telemetry/llm-usage.ts";
import { withTenant } from "../telemetry/propagation.ts";
import { startTracing } from "../telemetry/tracing.ts";
import { AnthropicClient, createLlmClient, OpenAiClient } from "./llm-client.ts";
import { llmConfigSchema } from "./llm-config.ts";

const finishedSpans = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: finishedSpans })] });
trace.setGlobalTracerProvider(provider);
// Installs the context manager and the baggage propagator (its own provider stays second to the one above).
const tracing = startTracing({
  serviceName: "t",
  config: backboneConfigSchema.parse({ OTEL_TRACES_EXPORTER: "none" }),
});

/** One HTTP request the stand-in provider received. */
interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** What the stand-in provider answers; `hang` never answers. */
type Answer = { status: number; body: unknown; headers?: Record<string, string> } | "hang";

const received: Received[] = [];
let answer: (request: Received) => Answer = () => ({ status: 500, body: { error: { message: "no answer set" } } });
let server: Server;
let origin: string;

beforeAll(async () => {
  server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
    incoming.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const request: Received = {
        method: incoming.method ?? "",
        path: incoming.url ?? "",
        headers: incoming.headers,
        body: text.length === 0 ? {} : (JSON.parse(text) as Record<string, unknown>),
      };
      received.push(request);
      const reply = answer(request);
      if (reply === "hang") return;
      outgoing.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
      outgoing.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await tracing.shutdown();
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

beforeEach(() => {
  received.length = 0;
  finishedSpans.reset();
});

function chatCompletion(content: string): Answer {
  return {
    status: 200,
    body: {
      id: "chatcmpl-1",
      object: "chat.completion",
      created: 1_750_000_000,
      model: "test-model",
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
      usage: { prompt_tokens: 42, completion_tokens: 7, total_tokens: 49 },
    },
  };
}

function anthropicMessage(...texts: string[]): Answer {
  return {
    status: 200,
    body: {
      id: "msg_1",
      type: "message",
      role: "assistant",
      model: "test-model",
      content: texts.map((text) => ({ type: "text", text })),
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 1, output_tokens: 1 },
    },
  };
}

/** An error answer the SDKs retry after 1 ms instead of their default backoff, to keep the tests fast. */
function errorAnswer(status: number, message: string): Answer {
  return { status, body: { error: { type: "api_error", message } }, headers: { "retry-after-ms": "1" } };
}

/**
 * The API key an Anthropic request carried: older SDKs send it as x-api-key, @anthropic-ai/sdk 1.x as a bearer token.
 */
function anthropicKey(headers: IncomingHttpHeaders): string | undefined {
  const apiKey = headers["x-api-key"];
  if (typeof apiKey === "string") return apiKey;
  return headers.authorization?.replace(/^Bearer /, "");
}

async function failureOf(call: Promise<unknown>): Promise<BatonError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof BatonError) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

const exchange = { system: "You plan tool calls.", prompt: "Where is my parcel?" };

describe("OpenAiClient", () => {
  const client = () =>
    new OpenAiClient({ model: "gpt-test", apiKey: "sk-test", baseUrl: `${origin}/v1`, timeoutMs: 5_000 });

  it("posts the model, the system and user messages and the key, and returns the assistant's text", async () => {
    answer = () => chatCompletion("Your parcel is on its way.");
    await expect(client().complete({ ...exchange, json: false })).resolves.toBe("Your parcel is on its way.");
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request).toMatchObject({ method: "POST", path: "/v1/chat/completions" });
    expect(request?.headers.authorization).toBe("Bearer sk-test");
    expect(request?.body.model).toBe("gpt-test");
    expect(request?.body.messages).toEqual([
      { role: "system", content: "You plan tool calls." },
      { role: "user", content: "Where is my parcel?" },
    ]);
  });

  it("asks for a JSON object only when json is true", async () => {
    answer = () => chatCompletion('{"workflow":"customer-support"}');
    await expect(client().complete({ ...exchange, json: true })).resolves.toBe('{"workflow":"customer-support"}');
    await client().complete({ ...exchange, json: false });
    expect(received.map((request) => request.body.response_format)).toEqual([{ type: "json_object" }, undefined]);
    expect("response_format" in (received[1]?.body ?? {})).toBe(false);
  });

  it("talks to a local OpenAI-compatible endpoint without a key", async () => {
    answer = () => chatCompletion("ok");
    const keyless = new OpenAiClient({ model: "llama3", baseUrl: `${origin}/v1`, timeoutMs: 5_000 });
    await expect(keyless.complete({ ...exchange, json: false })).resolves.toBe("ok");
    expect(received.map((request) => request.body.model)).toEqual(["llama3"]);
  });

  it("a server error is retried once, then becomes a retriable BatonError naming the provider", async () => {
    answer = () => errorAnswer(500, "the model is overloaded");
    const error = await failureOf(client().complete({ ...exchange, json: false }));
    expect(received).toHaveLength(2);
    expect(error.retriable).toBe(true);
    expect(error.message).toMatch(/^openai call failed: /);
    expect(error.message).toContain("the model is overloaded");
  });

  it("a rejected request (400) is not retried and becomes a terminal BatonError", async () => {
    answer = () => errorAnswer(400, "unknown model gpt-test");
    const error = await failureOf(client().complete({ ...exchange, json: false }));
    expect(received).toHaveLength(1);
    expect(error.retriable).toBe(false);
    expect(error.message).toMatch(/^openai call failed: /);
    expect(error.message).toContain("unknown model gpt-test");
  });

  it("a rate limit (429) is retriable", async () => {
    answer = () => errorAnswer(429, "slow down");
    const error = await failureOf(client().complete({ ...exchange, json: false }));
    expect(received).toHaveLength(2);
    expect(error.retriable).toBe(true);
  });

  it("a provider that does not answer within the timeout gives a retriable BatonError", async () => {
    answer = () => "hang";
    const slow = new OpenAiClient({ model: "gpt-test", apiKey: "sk-test", baseUrl: `${origin}/v1`, timeoutMs: 150 });
    const error = await failureOf(slow.complete({ ...exchange, json: false }));
    expect(received).toHaveLength(2);
    expect(error.retriable).toBe(true);
    expect(error.message).toMatch(/^openai call failed: /);
  });
});

describe("AnthropicClient", () => {
  const client = () =>
    new AnthropicClient({ model: "claude-test", apiKey: "ak-test", baseUrl: origin, timeoutMs: 5_000 });

  it("posts the model, the system prompt, the user message and the key, and returns the text", async () => {
    answer = () => anthropicMessage("Your parcel is on its way.");
    await expect(client().complete({ ...exchange, json: false })).resolves.toBe("Your parcel is on its way.");
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request).toMatchObject({ method: "POST", path: "/v1/messages" });
    expect(anthropicKey(request?.headers ?? {})).toBe("ak-test");
    expect(request?.headers["anthropic-version"]).toBeDefined();
    expect(request?.body).toEqual({
      model: "claude-test",
      max_tokens: 2048,
      system: "You plan tool calls.",
      messages: [{ role: "user", content: "Where is my parcel?" }],
    });
  });

  it("joins the text of every text block of the answer, and sends the same request when json is true", async () => {
    answer = () => anthropicMessage('{"workflow":', '"customer-support"}');
    await expect(client().complete({ ...exchange, json: true })).resolves.toBe('{"workflow":"customer-support"}');
    expect(Object.keys(received[0]?.body ?? {}).sort()).toEqual(["max_tokens", "messages", "model", "system"]);
  });

  it("a server error is retried once, then becomes a retriable BatonError naming the provider", async () => {
    answer = () => errorAnswer(500, "the model is overloaded");
    const error = await failureOf(client().complete({ ...exchange, json: false }));
    expect(received).toHaveLength(2);
    expect(error.retriable).toBe(true);
    expect(error.message).toMatch(/^anthropic call failed: /);
    expect(error.message).toContain("the model is overloaded");
  });

  it("a rejected request (400) is not retried and becomes a terminal BatonError", async () => {
    answer = () => errorAnswer(400, "max_tokens is too large");
    const error = await failureOf(client().complete({ ...exchange, json: false }));
    expect(received).toHaveLength(1);
    expect(error.retriable).toBe(false);
    expect(error.message).toMatch(/^anthropic call failed: /);
    expect(error.message).toContain("max_tokens is too large");
  });
});

describe("createLlmClient", () => {
  it("gives no client for provider none, even with a model set", () => {
    expect(createLlmClient(llmConfigSchema.parse({}))).toBeUndefined();
    expect(createLlmClient(llmConfigSchema.parse({ LLM_PROVIDER: "none", LLM_MODEL: "gpt" }))).toBeUndefined();
  });

  it("an openai config gives a client that calls the configured base URL with the configured model and key", async () => {
    answer = () => chatCompletion("from openai");
    const client = createLlmClient(
      llmConfigSchema.parse({
        LLM_PROVIDER: "openai",
        LLM_MODEL: "gpt-config",
        LLM_API_KEY: "sk-config",
        LLM_BASE_URL: `${origin}/v1`,
      }),
    );
    expect(client).toBeInstanceOf(OpenAiClient);
    expect(client?.model).toBe("gpt-config");
    await expect(client?.complete({ ...exchange, json: false })).resolves.toBe("from openai");
    expect(received.map((request) => [request.path, request.body.model, request.headers.authorization])).toEqual([
      ["/v1/chat/completions", "gpt-config", "Bearer sk-config"],
    ]);
  });

  it("an anthropic config gives a client that calls the configured base URL with the configured model and key", async () => {
    answer = () => anthropicMessage("from anthropic");
    const client = createLlmClient(
      llmConfigSchema.parse({
        LLM_PROVIDER: "anthropic",
        LLM_MODEL: "claude-config",
        LLM_API_KEY: "ak-config",
        LLM_BASE_URL: origin,
      }),
    );
    expect(client).toBeInstanceOf(AnthropicClient);
    await expect(client?.complete({ ...exchange, json: false })).resolves.toBe("from anthropic");
    expect(received.map((request) => [request.path, request.body.model, anthropicKey(request.headers)])).toEqual([
      ["/v1/messages", "claude-config", "ak-config"],
    ]);
  });

  it("LLM_TIMEOUT_MS bounds how long a call waits for the provider", async () => {
    answer = () => "hang";
    const client = createLlmClient(
      llmConfigSchema.parse({
        LLM_PROVIDER: "openai",
        LLM_MODEL: "gpt-config",
        LLM_BASE_URL: `${origin}/v1`,
        LLM_TIMEOUT_MS: "100",
      }),
    );
    const started = Date.now();
    const error = await failureOf(client?.complete({ ...exchange, json: false }) ?? Promise.resolve());
    expect(error.retriable).toBe(true);
    expect(Date.now() - started).toBeLessThan(4_000);
  });
});

describe("LLM calls in traces and metrics", () => {
  it("each call is a `chat {model}` CLIENT span with the GenAI attributes and token usage, counted for the request's tenant", async () => {
    const usages: LlmUsage[] = [];
    const stop = onLlmUsage((usage) => usages.push(usage));
    answer = () => chatCompletion("ok");
    const client = new OpenAiClient({
      model: "gpt-test",
      apiKey: "sk-test",
      baseUrl: `${origin}/v1`,
      timeoutMs: 5_000,
    });
    await context.with(withTenant("acme"), () => client.complete({ ...exchange, json: false }));
    answer = () => anthropicMessage("ok");
    await new AnthropicClient({ model: "claude-test", apiKey: "ak", baseUrl: origin, timeoutMs: 5_000 }).complete({
      ...exchange,
      json: false,
    });
    stop();
    await provider.forceFlush();
    expect(usages).toEqual([
      { tenant: "acme", provider: "openai", model: "gpt-test", inputTokens: 42, outputTokens: 7 },
      { tenant: "unknown", provider: "anthropic", model: "claude-test", inputTokens: 1, outputTokens: 1 },
    ]);
    const [openai, anthropic] = finishedSpans.getFinishedSpans();
    expect(openai?.name).toBe("chat gpt-test");
    expect(openai?.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-test",
      "gen_ai.response.model": "test-model",
      "gen_ai.usage.input_tokens": 42,
      "gen_ai.usage.output_tokens": 7,
      "baton.tenant": "acme",
    });
    expect(anthropic?.attributes).toMatchObject({
      "gen_ai.provider.name": "anthropic",
      "gen_ai.usage.input_tokens": 1,
    });
  });

  it("a failed call's span says why in error.type", async () => {
    answer = () => errorAnswer(400, "unknown model");
    const client = new OpenAiClient({
      model: "gpt-test",
      apiKey: "sk-test",
      baseUrl: `${origin}/v1`,
      timeoutMs: 5_000,
    });
    await failureOf(client.complete({ ...exchange, json: false }));
    await provider.forceFlush();
    expect(finishedSpans.getFinishedSpans()[0]?.attributes["error.type"]).toBe("400");
  });
});
