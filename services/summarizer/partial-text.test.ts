import { describe, expect, it } from "vitest";
import { PartialTextPublisher, PartialTextRedactor } from "./partial-text.ts";

const answers = {
  redact: ["email", "phone", "card"] as Array<"email" | "phone" | "card">,
  block: [{ id: "no-secrets", pattern: "internal only", reason: "internal" }],
  compliance: [],
};

/** Feeds the text in pieces of `size` characters and returns every piece given out, then the flush. */
function stream(text: string, size: number): string[] {
  const redactor = new PartialTextRedactor(answers);
  const out: string[] = [];
  for (let index = 0; index < text.length; index += size) out.push(redactor.push(text.slice(index, index + size)));
  out.push(redactor.flush());
  return out;
}

describe("PartialTextRedactor", () => {
  const answer =
    "Write to ann.lee@example.com or call +44 20 7946 0958, and pay with 4111 1111 1111 1111 before Friday.";

  it.each([1, 2, 3, 5, 7, 64])("never gives out personal data, whatever the pieces (%i chars)", (size) => {
    const pieces = stream(answer, size);
    const joined = pieces.join("");
    for (const piece of pieces) expect(piece).not.toMatch(/ann|example\.com|7946|4111|\d{4} \d{4}/);
    expect(joined).toBe(
      "Write to [redacted email] or call [redacted phone], and pay with [redacted card] before Friday.",
    );
  });

  it("gives text out as it comes, at word boundaries, not all at the end", () => {
    const pieces = stream("Shipping takes three to five days for most parcels.", 4);
    expect(pieces.filter((piece) => piece !== "").length).toBeGreaterThan(3);
  });

  it("gives nothing more once a block rule matches", () => {
    const pieces = stream("The refund is internal only and more words follow here.", 3);
    expect(pieces.join("")).not.toContain("internal only");
    expect(pieces.join("")).not.toContain("more words");
  });
});

describe("PartialTextPublisher", () => {
  it("sends redacted pieces numbered in order, pieces that arrive during a send together in the next", async () => {
    const sent: Array<{ text: string; sequence: number }> = [];
    let release: (() => void) | undefined;
    const publisher = new PartialTextPublisher(answers, (text, sequence) => {
      sent.push({ text, sequence });
      return new Promise<void>((resolve) => (release = resolve));
    });
    publisher.push("Hello there ");
    publisher.push("dear ");
    publisher.push("friend, mail bo@example.org ");
    publisher.push("today");
    expect(sent).toEqual([{ text: "Hello ", sequence: 0 }]);
    release?.();
    const finished = publisher.finish();
    await new Promise((resolve) => setImmediate(resolve));
    release?.();
    await new Promise((resolve) => setImmediate(resolve));
    release?.();
    await finished;
    expect(sent.map((piece) => piece.sequence)).toEqual(sent.map((_, index) => index));
    expect(sent.map((piece) => piece.text).join("")).toBe("Hello there dear friend, mail [redacted email] today");
  });
});
