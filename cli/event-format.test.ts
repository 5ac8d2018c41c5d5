import { describe, expect, it } from "vitest";
import { progressEvent } from "../shared/progress-events.ts";
import { formatEvent } from "./event-format.ts";

describe("formatEvent", () => {
  it("names the step, tool, status and retry attempt, timed from the submission", () => {
    const event = progressEvent("r1", "FINISHED", 1_250, {
      stepId: "search",
      tool: "knowledge-base/search",
      status: "SUCCEEDED",
      attempt: 2,
    });
    expect(formatEvent(event, 1_000)).toBe("+  250 ms  finished search (knowledge-base/search) SUCCEEDED attempt 2");
  });

  it("says why a step was denied", () => {
    const event = progressEvent("r1", "DENIED", 1_000, { stepId: "refund", detail: "no-refunds: refunds are off" });
    expect(formatEvent(event, 1_000)).toBe("+    0 ms  denied refund: no-refunds: refunds are off");
  });
});
