import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Response } from "../../shared/schemas/records.ts";
import { StreamingLlm } from "./fixtures/streaming-llm.ts";
import { readSse, type ReceivedSse } from "./fixtures/sse-client.ts";
import { TestPipeline } from "./pipeline.ts";

// Partial answers through the gateway's event stream, with real stages, a real gateway and a local stand-in model
// that streams (run under the stack lock: the stages use the shared consumer groups).
const port = 18_181;
const base = `http://127.0.0.1:${port}`;
const answer =
  "Shipping takes three to five days. Write to help.desk@example.com or call +44 20 7946 0958 if it takes longer.";

let llm: StreamingLlm;
let pipeline: TestPipeline;

beforeAll(async () => {
  llm = await StreamingLlm.start(answer, 4, 40);
  pipeline = await TestPipeline.start({
    workflowsDirs: [],
    policyFile: "test/e2e/streaming/policy.yaml",
    serversFile: "test/e2e/mcp-servers.yaml",
    env: { LLM_PROVIDER: "openai", LLM_MODEL: "streaming", LLM_BASE_URL: llm.baseUrl, LLM_TIMEOUT_MS: "10000" },
  });
  await pipeline.startStage("gateway", { GATEWAY_PORT: String(port), METRICS_PORT: "0" });
}, 180_000);

afterAll(async () => {
  const stopped = await pipeline.stop();
  await llm.stop();
  expect(stopped.filter((stage) => stage.code !== 0)).toEqual([]);
}, 60_000);

/** Submits a shipping question for a tenant through the gateway and reads its whole event stream. */
async function ask(tenant: string): Promise<ReceivedSse[]> {
  const posted = await fetch(`${base}/v1/requests`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ tenant, input: "How long does shipping take?", workflow: "customer-support" }),
  });
  expect(posted.status).toBe(202);
  const { requestId } = (await posted.json()) as { requestId: string };
  const stream = await readSse(`${base}/v1/requests/${requestId}/events`);
  expect(stream.ended).toBe(true);
  return stream.events;
}

const partialsOf = (events: ReceivedSse[]) => events.filter((event) => event.data.type === "PARTIAL_TEXT");

describe("streaming partial answers", () => {
  it("partial text arrives before the final answer and never holds what redaction removes", async () => {
    const events = await ask("streaming");
    const partials = partialsOf(events);
    const response = events.at(-1);
    expect(response?.data.type).toBe("RESPONSE");
    expect(partials.length).toBeGreaterThan(3);
    expect(events.indexOf(partials.at(-1) as ReceivedSse)).toBeLessThan(events.length - 1);
    expect(partials[0]?.afterMs).toBeLessThan(response?.afterMs ?? 0);
    expect(partials.map((partial) => partial.data.sequence)).toEqual(partials.map((_, index) => index));

    for (const partial of partials) expect(partial.data.text).not.toMatch(/help|desk|example|7946|0958|\+44/);
    const written = partials.map((partial) => partial.data.text as string).join("");
    expect(written).toBe(
      "Shipping takes three to five days. Write to [redacted email] or call [redacted phone] if it takes longer.",
    );
    const final = response?.data.response as Response;
    expect(final.status).toBe("ANSWERED");
    expect(final.answer).toBe(written);
    expect(llm.calls.streamed).toBeGreaterThan(0);
  });

  it("a tenant whose policy does not say so gets no partial text, only the final answer", async () => {
    const events = await ask("quiet");
    expect(partialsOf(events)).toEqual([]);
    const final = events.at(-1)?.data.response as Response;
    expect(final.answer).toContain("[redacted email]");
    expect(final.answer).not.toContain("help.desk@example.com");
    expect(llm.calls.whole).toBeGreaterThan(0);
  });
});
