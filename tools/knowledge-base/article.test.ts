import { describe, expect, it } from "vitest";
import { parseArticle } from "./article.ts";

describe("parseArticle", () => {
  it("reads the front matter and the paragraphs, leaving headings out", () => {
    const text =
      "---\ntitle: Refunds\nescalate: true\nkeywords: refund, money back\n---\n\n# Refunds\nFirst line\nsame paragraph.\n\nSecond.\n";
    expect(parseArticle("refunds.md", text)).toEqual({
      id: "refunds",
      title: "Refunds",
      escalate: true,
      keywords: ["refund", "money back"],
      paragraphs: ["First line same paragraph.", "Second."],
    });
  });

  it("does not escalate unless the front matter says so", () => {
    expect(parseArticle("a.md", "---\ntitle: A\n---\nText.\n").escalate).toBe(false);
  });

  it("refuses a file without front matter, naming the file", () => {
    expect(() => parseArticle("loose.md", "# Loose\nText.\n")).toThrow(/loose\.md/);
  });

  it("refuses an escalate value other than true or false, naming the key", () => {
    expect(() => parseArticle("a.md", "---\ntitle: A\nescalate: yes\n---\nText.\n")).toThrow(/a\.md.*escalate/);
  });
});
