import { describe, it, expect } from "vitest";
import { headersToText, deadLetterHeaders } from "./headers.ts";

describe("headersToText", () => {
  it("reads Buffer values as UTF-8 text", () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    expect(headersToText({ traceparent: Buffer.from(traceparent, "utf8"), note: Buffer.from("café", "utf8") })).toEqual(
      {
        traceparent,
        note: "café",
      },
    );
  });

  it("keeps string values as they are", () => {
    expect(headersToText({ tenant: "acme", empty: "" })).toEqual({ tenant: "acme", empty: "" });
  });

  it("keeps the last value of a repeated header, whether Buffer or string", () => {
    expect(
      headersToText({
        attempt: [Buffer.from("1"), "2", Buffer.from("3")],
        origin: ["first", "second"],
      }),
    ).toEqual({ attempt: "3", origin: "second" });
  });

  it("skips headers without a value and repeated headers with no entries", () => {
    const text = headersToText({ present: "yes", missing: undefined, none: [] });
    expect(text).toEqual({ present: "yes" });
    expect(Object.keys(text)).not.toContain("missing");
  });

  it("gives an empty object for a message without headers", () => {
    expect(headersToText(undefined)).toEqual({});
    expect(headersToText({})).toEqual({});
  });
});

describe("deadLetterHeaders", () => {
  it("names every dead-letter header distinctly with the baton- prefix", () => {
    const names = Object.values(deadLetterHeaders);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^baton-[a-z]+(?:-[a-z]+)*$/);
  });
});
