import { describe, expect, it } from "vitest";
import { renderProperties } from "./properties-file.ts";

describe("renderProperties", () => {
  it("writes one key=value line per entry, in order, after a commented header", () => {
    expect(
      renderProperties(
        [
          ["node.id", 1],
          ["auto.create.topics.enable", false],
        ],
        "made by a test",
      ),
    ).toBe("# made by a test\nnode.id=1\nauto.create.topics.enable=false\n");
  });

  it("escapes backslashes so Windows paths survive", () => {
    expect(renderProperties([["log.dirs", "C:\\data\\kafka"]])).toBe("log.dirs=C:\\\\data\\\\kafka\n");
  });

  it("escapes separators in keys and leading specials in values", () => {
    expect(renderProperties([["a key=x", " #lead"]])).toBe("a\\ key\\=x=\\ #lead\n");
  });
});
