import { describe, it, expect } from "vitest";
import type { CompletedRun, Draft, StepOutcome } from "../../shared/schemas/records.ts";
import { composeDraft, summarize } from "./summarizer.ts";

const now = 1_750_000_000_000;

const answerTemplate = JSON.stringify([
  { when: { path: "steps.search.output.found", equals: true }, text: "{{ steps.search.output.answer }}" },
  {
    when: { path: "steps.ticket.status", equals: "SUCCEEDED" },
    text: "I opened ticket {{ steps.ticket.output.ticketId }} for {{ request.metadata.customerEmail }}.",
  },
  { text: "Reference: {{ request.requestId }}" },
]);

function stepOutcome(stepId: string, status: StepOutcome["status"], fields: Partial<StepOutcome> = {}): StepOutcome {
  return {
    stepId,
    tool: stepId === "search" ? "knowledge-base/search" : "ticketing/create_ticket",
    status,
    output: null,
    error: null,
    attempts: 1,
    durationMs: 20,
    ...fields,
  };
}

function run(fields: Partial<CompletedRun> = {}): CompletedRun {
  return {
    requestId: "req-1",
    tenant: "demo",
    input: "my parcel is damaged",
    workflow: "customer-support",
    metadata: { customerEmail: "ana@example.com" },
    outcome: "COMPLETED",
    error: null,
    answerTemplate,
    steps: [
      stepOutcome("search", "SUCCEEDED", { output: JSON.stringify({ found: true, answer: "Send us a photo." }) }),
      stepOutcome("ticket", "SKIPPED", { error: "condition not met" }),
    ],
    completedAt: now - 1,
    ...fields,
  };
}

describe("summarize", () => {
  it("renders only the answer parts whose condition holds, in order", () => {
    expect(summarize(run())).toBe("Send us a photo.\n\nReference: req-1");
  });

  it("renders a part once the step it depends on succeeded", () => {
    const escalated = run({
      steps: [
        stepOutcome("search", "SUCCEEDED", { output: JSON.stringify({ found: false, answer: null }) }),
        stepOutcome("ticket", "SUCCEEDED", { output: JSON.stringify({ ticketId: "TCK-000123" }) }),
      ],
    });
    expect(summarize(escalated)).toBe("I opened ticket TCK-000123 for ana@example.com.\n\nReference: req-1");
  });

  it("drops parts that render to nothing and trims the rest", () => {
    const template = JSON.stringify([{ text: " {{ steps.search.output.missing }} " }, { text: "  kept  " }]);
    expect(summarize(run({ answerTemplate: template }))).toBe("kept");
  });

  // Known bug: summarizer.ts writes String(render(...)), so a part that is exactly one missing reference
  // becomes "undefined" (and a null value "null"). Turn into `it` once fixed.
  it("a part that is exactly one missing or null reference is dropped, not written as undefined or null", () => {
    const template = JSON.stringify([
      { text: "{{ steps.search.output.missing }}" },
      { text: "{{ steps.ticket.output }}" },
      { text: "kept" },
    ]);
    expect(summarize(run({ answerTemplate: template }))).toBe("kept");
  });

  it("without a template, lists what each step did", () => {
    expect(summarize(run({ answerTemplate: null }))).toBe(
      [
        "Completed 2 steps:",
        "- search (knowledge-base/search): SUCCEEDED",
        "- ticket (ticketing/create_ticket): SKIPPED, condition not met",
      ].join("\n"),
    );
  });

  it("lists the steps when no answer part holds", () => {
    const template = JSON.stringify([{ when: { path: "steps.search.status", equals: "FAILED" }, text: "sorry" }]);
    expect(summarize(run({ answerTemplate: template }))).toMatch(/^Completed 2 steps:/);
  });

  it("a refused run says why after what could be answered", () => {
    const refused = run({
      outcome: "REFUSED",
      error: "ticket (ticketing/create_ticket) DENIED: not allowed",
      steps: [
        stepOutcome("search", "SUCCEEDED", { output: JSON.stringify({ found: true, answer: "Send us a photo." }) }),
        stepOutcome("ticket", "DENIED", { error: "not allowed" }),
      ],
    });
    expect(summarize(refused)).toBe(
      "Send us a photo.\n\nReference: req-1\n\nPart of this request was refused: ticket (ticketing/create_ticket) DENIED: not allowed",
    );
  });

  it("a failed run says it could not be completed and why", () => {
    const failed = run({
      answerTemplate: null,
      outcome: "FAILED",
      error: "search (knowledge-base/search) TIMED_OUT: no answer",
      steps: [stepOutcome("search", "TIMED_OUT", { error: "no answer" })],
    });
    expect(summarize(failed)).toBe(
      "This request could not be completed: search (knowledge-base/search) TIMED_OUT: no answer",
    );
  });

  it("a run refused before any step ran has no answer", () => {
    expect(
      summarize(run({ outcome: "REFUSED", error: "unknown tenant x", answerTemplate: null, steps: [] })),
    ).toBeNull();
  });
});

describe("composeDraft", () => {
  const draftOf = (completed: CompletedRun): Draft => {
    const message = composeDraft(completed, now);
    expect(message.topic).toBe("baton.drafts");
    expect(message.key).toBe(completed.requestId);
    return message.value as Draft;
  };

  it.each([
    ["COMPLETED", "ANSWERED"],
    ["REFUSED", "REFUSED"],
    ["FAILED", "FAILED"],
  ] as const)("a %s run becomes a %s draft", (outcome, status) => {
    expect(draftOf(run({ outcome, error: outcome === "COMPLETED" ? null : "why" })).status).toBe(status);
  });

  it("carries the answer, every step's summary and the time it was composed", () => {
    expect(draftOf(run())).toEqual({
      requestId: "req-1",
      tenant: "demo",
      status: "ANSWERED",
      answer: "Send us a photo.\n\nReference: req-1",
      steps: [
        { stepId: "search", tool: "knowledge-base/search", status: "SUCCEEDED", attempts: 1, durationMs: 20 },
        { stepId: "ticket", tool: "ticketing/create_ticket", status: "SKIPPED", attempts: 1, durationMs: 20 },
      ],
      error: null,
      completedAt: now,
    });
  });

  it("a run refused before any step keeps its error and has a null answer", () => {
    const draft = draftOf(
      run({ outcome: "REFUSED", error: "no workflow matches this request", answerTemplate: null, steps: [] }),
    );
    expect(draft).toMatchObject({
      status: "REFUSED",
      answer: null,
      error: "no workflow matches this request",
      steps: [],
    });
  });
});
