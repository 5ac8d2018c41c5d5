import { describe, it, expect } from "vitest";
import { redactPii } from "./redaction.ts";

const every = ["email", "phone", "card"] as const;

describe("redactPii", () => {
  it("replaces email addresses and counts them", () => {
    expect(redactPii("Write to ana.lopez+orders@example.co.uk or ops@shop.io.", every)).toEqual({
      text: "Write to [redacted email] or [redacted email].",
      found: { email: 2 },
    });
  });

  it.each([
    ["an international number with spaces", "+44 20 7946 0958"],
    ["a US number with dashes", "555-123-4567"],
    ["a number with brackets", "(555) 123-4567"],
    ["a number with dots", "555.123.4567"],
  ])("replaces %s", (_, phone) => {
    expect(redactPii(`Call us on ${phone} today`, every)).toEqual({
      text: "Call us on [redacted phone] today",
      found: { phone: 1 },
    });
  });

  it.each([
    ["grouped with spaces", "4111 1111 1111 1111"],
    ["grouped with dashes", "5500-0000-0000-0004"],
    ["without separators", "4012888888881881"],
    ["of 15 digits (Amex)", "378282246310005"],
  ])("replaces a card number passing Luhn %s", (_, card) => {
    expect(redactPii(`Paid with ${card}.`, every)).toEqual({ text: "Paid with [redacted card].", found: { card: 1 } });
  });

  it.each([
    ["an order number", "Your order #1234 is on its way."],
    ["a ticket id", "I opened ticket TCK-000123 for you."],
    ["a date", "It arrives on 2026-11-21."],
    ["a 16-digit number failing Luhn", "Reference 4111 1111 1111 1112 is noted."],
    ["an amount", "A refund of 120.50 EUR was issued."],
    ["a short count", "We have 3 stores open 7 days."],
  ])("leaves %s alone", (_, text) => {
    expect(redactPii(text, every)).toEqual({ text, found: {} });
  });

  // Known bug: the card candidate runs on into the digits that follow, fails Luhn as a whole and is left as it is.
  // Turn into `it` once redaction.ts looks for the card inside the run of digit groups.
  it.each([
    ["its expiry date", "4111 1111 1111 1111 12/28"],
    ["its security code", "4111 1111 1111 1111 123"],
  ])("replaces a card number followed by %s", (_, text) => {
    const result = redactPii(`Paid with ${text}.`, every);
    expect(result.text).not.toContain("4111 1111 1111 1111");
    expect(result.found.card).toBe(1);
  });

  it("counts each kind separately in one text", () => {
    const result = redactPii("ana@example.com, 555-123-4567, +44 20 7946 0958, 4111 1111 1111 1111", every);
    expect(result).toEqual({
      text: "[redacted email], [redacted phone], [redacted phone], [redacted card]",
      found: { email: 1, phone: 2, card: 1 },
    });
  });

  it("redacts only the kinds asked for", () => {
    const text = "ana@example.com, 555-123-4567, 4111 1111 1111 1111";
    expect(redactPii(text, ["card"])).toEqual({
      text: "ana@example.com, 555-123-4567, [redacted card]",
      found: { card: 1 },
    });
    expect(redactPii(text, [])).toEqual({ text, found: {} });
  });
});
