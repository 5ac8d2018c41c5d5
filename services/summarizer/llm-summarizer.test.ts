import { describe, it, expect } from "vitest";
import { BatonError } from "../../shared/errors.ts";
import type { LlmClient } from "../../shared/llm/llm-client.ts";
import type { CompletedRun, Draft, StepOutcome } from "../../shared/schemas/records.ts";
import { summarizeWithLlm } from "./llm-summarizer.ts";
import { composeDraft, summarize } from "./summarizer.ts";

const now = 1_750_000_000_000;

type Exchange = Parameters<LlmClient["complete"]>[0];

/** An LlmClient that answers every call with the given text (or fails with the given error) and keeps each call. */
function fakeLlm(reply: string | Error): { client: LlmClient; calls: Exchange[] } {
  const calls: Exchange[] = [];
  const client: LlmClient = {
    model: "fake-model",
    complete(exchange) {
      calls.push(exchange);
      return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply);
    },
  };
  return { client, calls };
}

function stepOutcome(stepId: string, tool: string, status: StepOutcome["status"], fields: Partial<StepOutcome> = {}) {
  const outcome: StepOutcome = {
    stepId,
    tool,
    status,
    output: null,
    error: null,
    attempts: 1,
    durationMs: 20,
    ...fields,
  };
  return outcome;
}

function run(fields: Partial<CompletedRun> = {}): CompletedRun {
  return {
    requestId: "req-1",
    tenant: "demo",
    input: "my parcel arrived damaged",
    workflow: "customer-support",
    metadata: { customerEmail: "ana@example.com" },
    outcome: "FAILED",
    error: "notify (outbox/send_email) FAILED: mailbox full",
    answerTemplate: JSON.stringify([{ text: "Template answer for {{ request.requestId }}" }]),
    steps: [
      stepOutcome("search", "knowledge-base/search", "SUCCEEDED", {
        output: JSON.stringify({ found: false, answer: null }),
      }),
      stepOutcome("ticket", "ticketing/create_ticket", "SUCCEEDED", {
        output: JSON.stringify({ ticketId: "TCK-000123" }),
      }),
      stepOutcome("notify", "outbox/send_email", "FAILED", { error: "mailbox full" }),
    ],
    completedAt: now - 1,
    ...fields,
  };
}

async function promptFor(completedRun: CompletedRun): Promise<Exchange> {
  const { client, calls } = fakeLlm("ok");
  await summarizeWithLlm(completedRun, client);
  expect(calls).toHaveLength(1);
  const [exchange] = calls;
  if (exchange === undefined) throw new Error("the LLM was not called");
  return exchange;
}

describe("summarizeWithLlm", () => {
  it("the prompt carries the request, the outcome with its reason, and each step's status, output and error", async () => {
    const { prompt } = await promptFor(run());
    expect(prompt).toContain("my parcel arrived damaged");
    expect(prompt).toContain("FAILED (notify (outbox/send_email) FAILED: mailbox full)");
    expect(prompt).toMatch(
      /- search \(knowledge-base\/search\): SUCCEEDED, output:\n<<<(UNTRUSTED-\w+) begin: untrusted output of tool knowledge-base\/search \(step search\)[^\n]*>>>\n\{"found":false,"answer":null\}\n<<<\1 end>>>/,
    );
    expect(prompt).toMatch(
      /- ticket \(ticketing\/create_ticket\): SUCCEEDED, output:\n<<<UNTRUSTED-\w+ begin[^\n]*>>>\n\{"ticketId":"TCK-000123"\}\n/,
    );
    expect(prompt).toContain("- notify (outbox/send_email): FAILED, error mailbox full");
  });

  it("a step with neither output nor error is listed with its status alone", async () => {
    const skipped = run({
      outcome: "COMPLETED",
      error: null,
      steps: [stepOutcome("ticket", "ticketing/create_ticket", "SKIPPED")],
    });
    const { prompt } = await promptFor(skipped);
    expect(prompt).toMatch(/- ticket \(ticketing\/create_ticket\): SKIPPED$/m);
    expect(prompt).toMatch(/Outcome: COMPLETED$/m);
    expect(prompt).not.toContain("null");
  });

  it("asks for plain text, not JSON, with instructions to use only the step results", async () => {
    const exchange = await promptFor(run());
    expect(exchange.json).toBe(false);
    expect(exchange.system).toContain("Use only facts from the step results");
  });

  it("returns the LLM's answer trimmed", async () => {
    const { client } = fakeLlm("\n  I opened ticket TCK-000123; a person will reply within a day.  \n\n");
    await expect(summarizeWithLlm(run(), client)).resolves.toBe(
      "I opened ticket TCK-000123; a person will reply within a day.",
    );
  });

  it("a failing LLM call rejects with its error, so the caller can fall back to the template", async () => {
    const cause = new BatonError("TIMEOUT", "anthropic call failed: Request timed out.", { retriable: true });
    await expect(summarizeWithLlm(run(), fakeLlm(cause).client)).rejects.toBe(cause);
  });
});

describe("composeDraft with an LLM answer", () => {
  it("the draft carries the given answer instead of the template's, and everything else as before", () => {
    const completedRun = run();
    const { topic, key, value } = composeDraft(completedRun, now, "Ticket TCK-000123 is open.");
    expect([topic, key]).toEqual(["baton.drafts", "req-1"]);
    const draft = value as Draft;
    expect(draft.answer).toBe("Ticket TCK-000123 is open.");
    expect(draft).toEqual({
      ...(composeDraft(completedRun, now).value as Draft),
      answer: "Ticket TCK-000123 is open.",
    });
    expect(draft).toMatchObject({ status: "FAILED", error: completedRun.error, completedAt: now });
  });

  it("without an answer the draft carries the template's", () => {
    const completedRun = run({ outcome: "COMPLETED", error: null });
    const draft = composeDraft(completedRun, now).value as Draft;
    expect(draft.answer).toBe("Template answer for req-1");
    expect(draft.answer).toBe(summarize(completedRun));
  });
});
