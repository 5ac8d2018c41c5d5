import { describe, it, expect } from "vitest";
import { BatonError, toBatonError, type BatonErrorCode } from "./errors.ts";

/** The fate each code must carry by default; a new code without a decided fate fails the typecheck here. */
const expectedRetriable = {
  CONFIG_INVALID: false,
  DECODE_FAILED: false,
  ENCODE_FAILED: false,
  SCHEMA_INCOMPATIBLE: false,
  REGISTRY_UNAVAILABLE: true,
  TOPIC_CONFLICT: false,
  KAFKA_UNAVAILABLE: true,
  AUTHENTICATION_FAILED: false,
  NOT_AUTHORIZED: false,
  INVALID_INPUT: false,
  TIMEOUT: true,
  INTERNAL: true,
} satisfies Record<BatonErrorCode, boolean>;

const codes = Object.keys(expectedRetriable) as BatonErrorCode[];

describe("BatonError", () => {
  it.each(codes)("%s carries its default fate when none is given", (code) => {
    const error = new BatonError(code, "something happened");
    expect(error.retriable).toBe(expectedRetriable[code]);
    expect(error.code).toBe(code);
  });

  it("a bad message is terminal and a timeout is retriable by default", () => {
    expect(new BatonError("DECODE_FAILED", "bad bytes").retriable).toBe(false);
    expect(new BatonError("TIMEOUT", "tool took too long").retriable).toBe(true);
  });

  it.each(codes)("an explicit retriable flag overrides the default of %s", (code) => {
    const flipped = !expectedRetriable[code];
    expect(new BatonError(code, "overridden", { retriable: flipped }).retriable).toBe(flipped);
  });

  it("keeps message, cause, retryAfterMs and details, and is a real Error", () => {
    const cause = new Error("429 Too Many Requests");
    const details = { tool: "search", attempt: 2 };
    const error = new BatonError("TIMEOUT", "rate limited", { cause, retryAfterMs: 1500, details });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("BatonError");
    expect(error.message).toBe("rate limited");
    expect(error.cause).toBe(cause);
    expect(error.retryAfterMs).toBe(1500);
    expect(error.details).toEqual(details);
  });

  it("has no cause, no retryAfterMs and empty details when none are given", () => {
    const error = new BatonError("INVALID_INPUT", "unknown tenant");
    expect("cause" in error).toBe(false);
    expect(error.retryAfterMs).toBeUndefined();
    expect(error.details).toEqual({});
  });
});

describe("toBatonError", () => {
  it("returns a BatonError unchanged, keeping its code and fate", () => {
    const original = new BatonError("DECODE_FAILED", "not wire format", { details: { offset: "7" } });
    const converted = toBatonError(original);
    expect(converted).toBe(original);
    expect(converted.code).toBe("DECODE_FAILED");
    expect(converted.retriable).toBe(false);
  });

  it("wraps any other Error as a retriable INTERNAL error with the original as cause", () => {
    const original = new TypeError("cannot read properties of undefined");
    const converted = toBatonError(original);
    expect(converted).toBeInstanceOf(BatonError);
    expect(converted.code).toBe("INTERNAL");
    expect(converted.retriable).toBe(true);
    expect(converted.message).toBe(original.message);
    expect(converted.cause).toBe(original);
  });

  it("wraps a thrown non-Error value as INTERNAL with its text as message", () => {
    const thrown = { reason: "weird" };
    const converted = toBatonError("plain string failure");
    expect(converted.code).toBe("INTERNAL");
    expect(converted.message).toBe("plain string failure");
    expect(converted.cause).toBe("plain string failure");
    expect(toBatonError(thrown).cause).toBe(thrown);
  });
});
