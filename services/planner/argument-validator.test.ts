import { describe, it, expect } from "vitest";
import { ArgumentValidator } from "./argument-validator.ts";

const refundSchema = JSON.stringify({
  type: "object",
  properties: {
    orderId: { type: "string", pattern: "^[0-9]+$" },
    amount: { type: "number", exclusiveMinimum: 0 },
  },
  required: ["orderId", "amount"],
  additionalProperties: false,
});

describe("ArgumentValidator", () => {
  it("arguments that fit the schema have no problems", () => {
    expect(new ArgumentValidator().problems(refundSchema, { orderId: "1234", amount: 30 })).toEqual([]);
  });

  it("names every problem with where it is", () => {
    const problems = new ArgumentValidator().problems(refundSchema, { orderId: "A-1", amount: "30", extra: 1 });
    expect(problems).toHaveLength(3);
    expect(problems.some((problem) => problem.startsWith("/orderId ") && problem.includes("pattern"))).toBe(true);
    expect(problems).toContain("/amount must be number");
    expect(problems.some((problem) => problem.includes("additional properties"))).toBe(true);
  });

  it("a missing required argument is reported against the arguments as a whole", () => {
    expect(new ArgumentValidator().problems(refundSchema, { orderId: "1" })).toEqual([
      "(arguments) must have required property 'amount'",
    ]);
  });

  it("a schema that is not JSON or not a schema is a problem, not a crash", () => {
    const validator = new ArgumentValidator();
    expect(validator.problems("{not json", {})[0]).toContain("the tool's input schema cannot be used");
    expect(validator.problems(JSON.stringify({ type: "no-such-type" }), {})[0]).toContain(
      "the tool's input schema cannot be used",
    );
  });

  it("gives the same answers when one validator checks many values against several schemas", () => {
    const validator = new ArgumentValidator();
    const other = JSON.stringify({ type: "object", required: ["query"] });
    expect(validator.problems(refundSchema, { orderId: "1", amount: 1 })).toEqual([]);
    expect(validator.problems(other, { orderId: "1", amount: 1 })).toHaveLength(1);
    expect(validator.problems(refundSchema, { orderId: "1", amount: -1 })).toHaveLength(1);
    expect(validator.problems(other, { query: "x" })).toEqual([]);
  });
});
