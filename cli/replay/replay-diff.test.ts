import { describe, expect, it } from "vitest";
import { diffViews, formatSummary, formatVerdict } from "./replay-diff.ts";
import { runView, type RunView } from "./recorded-run.ts";

const view: RunView = {
  plan: ["workflow support", "search kb/search"],
  steps: ['search kb/search SUCCEEDED {"q":"x"}'],
  decisions: ["ANSWER ALLOW - - -", "TOOL_CALL ALLOW search kb/search -"],
  answer: ["status ANSWERED", "Hello.", "", "Bye."],
};

describe("replay diff", () => {
  it("finds no difference between equal views", () => {
    expect(diffViews(view, structuredClone(view))).toEqual([]);
  });

  it("names the lines only the original had and those only the replay has, per part", () => {
    const replayed = { ...view, answer: ["status ANSWERED", "Hi.", "", "Bye."] };
    expect(diffViews(view, replayed)).toEqual([{ part: "answer", removed: ["Hello."], added: ["Hi."] }]);
  });

  it("counts a decision audited twice (its message handled again after a rewind) once", () => {
    const decision = {
      requestId: "r-1",
      tenant: "demo",
      stepId: "search",
      tool: "kb/search",
      subject: "TOOL_CALL",
      action: "ALLOW",
      ruleId: null,
      reason: "allowed",
      decidedAt: 1,
    };
    const message = { topic: "baton.policy-decisions", key: "r-1", headers: {}, partition: 0, timestamp: 1 };
    const twice = runView([
      { ...message, value: decision },
      { ...message, value: { ...decision, decidedAt: 2 } },
    ]);
    expect(twice.decisions).toEqual(["TOOL_CALL ALLOW search kb/search -"]);
  });

  it("reports lines that only moved as a change of order", () => {
    const replayed = { ...view, plan: ["search kb/search", "workflow support"] };
    const [diff] = diffViews(view, replayed);
    expect(diff?.part).toBe("plan");
    expect(diff?.removed[0]).toMatch(/^\(order\)/);
  });

  it("prints a changed request with its diff and its new calls, and a window's summary table", () => {
    const lines = formatVerdict({
      requestId: "r-1",
      verdict: "changed",
      diffs: [{ part: "answer", removed: ["Hello."], added: ["Hi."] }],
      newCalls: [{ stepId: "ticket", tool: "desk/create_ticket", arguments: "{}", source: "new" }],
      recordedCalls: 1,
      readOnlyCalls: 0,
    });
    expect(lines).toEqual([
      "r-1  changed  (1 call answered from the record)",
      "  answer:",
      "    - Hello.",
      "    + Hi.",
      "  new calls (not sent to their tools):",
      "    ticket desk/create_ticket {}",
    ]);
    const verdict = { diffs: [], newCalls: [], recordedCalls: 0, readOnlyCalls: 0 };
    expect(
      formatSummary([
        { ...verdict, requestId: "a", verdict: "same" },
        { ...verdict, requestId: "b", verdict: "same" },
        { ...verdict, requestId: "c", verdict: "failed" },
      ]),
    ).toEqual(["same  changed  failed to replay", "2     0        1               "]);
  });
});
