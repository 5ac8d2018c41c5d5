import { describe, it, expect } from "vitest";
import {
  conditionPaths,
  conditionSchema,
  evaluate,
  lookup,
  missingReferences,
  referencedSteps,
  render,
  templatePaths,
  type Condition,
} from "./templates.ts";

const data = {
  request: { requestId: "req-1", input: "where is my order", metadata: { amount: "120", customerEmail: "a@b.io" } },
  steps: {
    search: { status: "SUCCEEDED", output: { found: true, hits: 3, answer: "It ships tomorrow.", tags: ["x", "y"] } },
    ticket: { status: "SKIPPED", output: null, error: "condition not met" },
  },
};

describe("lookup", () => {
  it("reads a dotted path through nested objects", () => {
    expect(lookup(data, "steps.search.output.hits")).toBe(3);
    expect(lookup(data, "request.metadata.customerEmail")).toBe("a@b.io");
  });

  it("is undefined when any part of the path is missing, even below a null or a primitive", () => {
    expect(lookup(data, "steps.nothing.output")).toBeUndefined();
    expect(lookup(data, "steps.ticket.output.ticketId")).toBeUndefined();
    expect(lookup(data, "steps.search.output.hits.value")).toBeUndefined();
    expect(lookup(null, "request")).toBeUndefined();
  });
});

describe("render", () => {
  it("a string that is exactly one reference keeps the value's type", () => {
    expect(render("{{ steps.search.output.hits }}", data)).toBe(3);
    expect(render("{{steps.search.output.found}}", data)).toBe(true);
    expect(render("{{ steps.search.output.tags }}", data)).toEqual(["x", "y"]);
  });

  it("references inside a longer string are written as text, objects as JSON", () => {
    expect(render("Found {{ steps.search.output.hits }} hits for {{ request.requestId }}", data)).toBe(
      "Found 3 hits for req-1",
    );
    expect(render("tags: {{ steps.search.output.tags }}", data)).toBe('tags: ["x","y"]');
  });

  it("a missing reference is undefined on its own and empty text inside a sentence", () => {
    expect(render("{{ steps.ticket.output.ticketId }}", data)).toBeUndefined();
    expect(render("ticket [{{ steps.ticket.output.ticketId }}]", data)).toBe("ticket []");
  });

  it("`| number` turns a metadata string into a number, and a non-number into undefined", () => {
    expect(render("{{ request.metadata.amount | number }}", data)).toBe(120);
    expect(render("{{ request.metadata.customerEmail | number }}", data)).toBeUndefined();
    expect(render("{{ request.metadata.missing | number }}", data)).toBeUndefined();
    expect(render("{{ steps.search.output.hits|number }}", data)).toBe(3);
  });

  it("`| string` turns a number into text and leaves a missing value missing", () => {
    expect(render("{{ steps.search.output.hits | string }}", data)).toBe("3");
    expect(render("{{ steps.search.output.tags | string }}", data)).toBe('["x","y"]');
    expect(render("{{ steps.nothing | string }}", data)).toBeUndefined();
  });

  it("`| json` reads a string holding JSON as its value, braces inside it left as they are", () => {
    const withJson = { request: { input: '{"subject":"{{ request.tenant }}","count":2}' } };
    expect(render("{{ request.input | json }}", withJson)).toEqual({ subject: "{{ request.tenant }}", count: 2 });
    expect(render("{{ request.missing | json }}", withJson)).toBeUndefined();
    expect(render("{{ request.input | json }}", { request: { input: "not json" } })).toBeUndefined();
  });

  it("fills references throughout nested objects and arrays and leaves other values alone", () => {
    const template = {
      query: "{{ request.input }}",
      limit: 3,
      flags: [true, "{{ steps.search.output.found }}"],
      nested: { amount: "{{ request.metadata.amount | number }}", note: null },
    };
    expect(render(template, data)).toEqual({
      query: "where is my order",
      limit: 3,
      flags: [true, true],
      nested: { amount: 120, note: null },
    });
  });

  it("leaves text without references unchanged", () => {
    expect(render("no braces here", data)).toBe("no braces here");
    expect(render("{ single } braces", data)).toBe("{ single } braces");
  });
});

describe("evaluate", () => {
  const holds = (condition: Condition): boolean => evaluate(condition, data);

  it("equals and notEquals compare strictly", () => {
    expect(holds({ path: "steps.search.status", equals: "SUCCEEDED" })).toBe(true);
    expect(holds({ path: "steps.search.output.hits", equals: "3" })).toBe(false);
    expect(holds({ path: "steps.search.status", notEquals: "FAILED" })).toBe(true);
    expect(holds({ path: "steps.search.status", notEquals: "SUCCEEDED" })).toBe(false);
  });

  it("exists is false for missing and null values, true otherwise", () => {
    expect(holds({ path: "request.metadata.customerEmail", exists: true })).toBe(true);
    expect(holds({ path: "request.metadata.phone", exists: true })).toBe(false);
    expect(holds({ path: "request.metadata.phone", exists: false })).toBe(true);
    expect(holds({ path: "steps.ticket.output", exists: false })).toBe(true);
  });

  it("in holds when the value is one of the listed values", () => {
    expect(holds({ path: "steps.ticket.status", in: ["SKIPPED", "FAILED"] })).toBe(true);
    expect(holds({ path: "steps.search.status", in: ["SKIPPED", "FAILED"] })).toBe(false);
  });

  it("greaterThan and lessThan hold only for numbers on the right side of the bound", () => {
    expect(holds({ path: "steps.search.output.hits", greaterThan: 2 })).toBe(true);
    expect(holds({ path: "steps.search.output.hits", greaterThan: 3 })).toBe(false);
    expect(holds({ path: "steps.search.output.hits", lessThan: 4 })).toBe(true);
    expect(holds({ path: "steps.search.output.hits", lessThan: 3 })).toBe(false);
    expect(holds({ path: "request.metadata.amount", greaterThan: 50 })).toBe(false);
    expect(holds({ path: "request.metadata.missing", lessThan: 50 })).toBe(false);
  });

  it("all, any and not combine conditions", () => {
    const found: Condition = { path: "steps.search.output.found", equals: true };
    const failed: Condition = { path: "steps.search.status", equals: "FAILED" };
    expect(holds({ all: [found, { not: failed }] })).toBe(true);
    expect(holds({ all: [found, failed] })).toBe(false);
    expect(holds({ any: [failed, found] })).toBe(true);
    expect(holds({ any: [failed, { not: found }] })).toBe(false);
    expect(holds({ not: { not: found } })).toBe(true);
  });
});

describe("conditionSchema", () => {
  it("accepts every kind of condition, nested", () => {
    const condition = {
      all: [
        { path: "a", equals: 1 },
        { any: [{ path: "b", in: [1, 2] }, { not: { path: "c", exists: true } }] },
        { path: "d", greaterThan: 1 },
      ],
    };
    expect(conditionSchema.safeParse(condition).success).toBe(true);
  });

  it("rejects a misspelled operator, a path with no operator and an empty all", () => {
    expect(conditionSchema.safeParse({ path: "a", greaterthan: 1 }).success).toBe(false);
    expect(conditionSchema.safeParse({ path: "a" }).success).toBe(false);
    expect(conditionSchema.safeParse({ all: [] }).success).toBe(false);
    expect(conditionSchema.safeParse({ path: "a", greaterThan: "1" }).success).toBe(false);
  });
});

describe("templatePaths, conditionPaths, referencedSteps and missingReferences", () => {
  it("templatePaths lists every reference in nested strings", () => {
    const template = { a: "{{ request.input }}", b: ["x {{ steps.one.output.id }} {{ steps.two.status | string }}"] };
    expect(templatePaths(template)).toEqual(["request.input", "steps.one.output.id", "steps.two.status"]);
  });

  it("conditionPaths lists the paths read inside all, any and not", () => {
    const condition: Condition = {
      any: [{ path: "steps.a.status", equals: "SUCCEEDED" }, { not: { path: "request.metadata.x", exists: true } }],
    };
    expect(conditionPaths(condition)).toEqual(["steps.a.status", "request.metadata.x"]);
  });

  it("referencedSteps names each step once and ignores request paths", () => {
    expect(referencedSteps(["steps.a.output.x", "request.input", "steps.b.status", "steps.a.error"])).toEqual([
      "a",
      "b",
    ]);
  });

  it("missingReferences names the paths that have no value", () => {
    expect(missingReferences({ x: "{{ request.input }} {{ steps.ticket.output.ticketId }}" }, data)).toEqual([
      "steps.ticket.output.ticketId",
    ]);
  });
});
