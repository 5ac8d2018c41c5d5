import { describe, it, expect } from "vitest";
import { routeByKeywords } from "./router.ts";
import { parseWorkflow, type Workflow } from "./workflow-file.ts";

function workflow(name: string, match: string): Workflow {
  return parseWorkflow(`name: ${name}\n${match}\nsteps: [{ id: a, tool: s/t }]\n`, `${name}.yaml`);
}

const support = workflow("support", "match: { keywords: [order, refund, broken], priority: 10 }");
const billing = workflow("billing", "match: { keywords: [invoice, refund, charged twice], priority: 0 }");
const byNameOnly = workflow("by-name-only", "");

describe("routeByKeywords", () => {
  it("picks the workflow whose keywords appear in the input, ignoring case and punctuation", () => {
    expect(routeByKeywords("My ORDER arrived broken!", [billing, support])?.name).toBe("support");
    expect(routeByKeywords("Where is my invoice?", [support, billing])?.name).toBe("billing");
  });

  it("the workflow matching more keywords wins over a higher priority", () => {
    expect(routeByKeywords("I was charged twice for my invoice, please refund", [support, billing])?.name).toBe(
      "billing",
    );
  });

  it("on a tie in matched keywords, the higher priority wins whatever the order", () => {
    expect(routeByKeywords("I want a refund", [billing, support])?.name).toBe("support");
    expect(routeByKeywords("I want a refund", [support, billing])?.name).toBe("support");
  });

  it("a keyword of several words matches only when every word is in the input", () => {
    expect(routeByKeywords("I was charged once", [billing])).toBeUndefined();
    expect(routeByKeywords("they charged me twice", [billing])?.name).toBe("billing");
  });

  it("keywords match whole words, not parts of words", () => {
    expect(routeByKeywords("please reorder this", [support])).toBeUndefined();
  });

  it("a workflow without match rules is never routed to, and no match gives undefined", () => {
    expect(routeByKeywords("order", [byNameOnly])).toBeUndefined();
    expect(routeByKeywords("what is the weather", [support, billing, byNameOnly])).toBeUndefined();
  });
});
