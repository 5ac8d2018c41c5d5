import { describe, expect, it } from "vitest";
import { PartitionWindow } from "./partition-window.ts";

describe("PartitionWindow", () => {
  it("never commits past the oldest message still running", () => {
    const window = new PartitionWindow<string>("t", 0, 10);
    for (const offset of ["5", "6", "7"]) window.start(offset);
    window.finish("6", "six");
    window.finish("7", "seven");
    expect(window.takeReady()).toEqual({ results: ["six", "seven"], commitOffset: undefined });
    window.finish("5", "five");
    expect(window.takeReady()).toEqual({ results: ["five"], commitOffset: "8" });
    expect(window.idle).toBe(true);
  });

  it("commits up to the oldest running message as earlier ones finish", () => {
    const window = new PartitionWindow<string>("t", 0, 10);
    for (const offset of ["0", "1", "2"]) window.start(offset);
    window.finish("0", "zero");
    expect(window.takeReady()).toEqual({ results: ["zero"], commitOffset: "1" });
    expect(window.restartOffset).toBe("1");
    expect(window.has("0")).toBe(false);
    expect(window.has("2")).toBe(true);
  });

  it("is full at its bound of unfinished messages; published ones do not count", () => {
    const window = new PartitionWindow<string>("t", 0, 2);
    window.start("0");
    window.start("1");
    expect(window.full).toBe(true);
    window.finish("1", "one");
    expect(window.full).toBe(true);
    window.takeReady();
    expect(window.full).toBe(false);
    expect(window.has("1")).toBe(true);
  });

  it("drops results once abandoned", () => {
    const window = new PartitionWindow<string>("t", 0, 2);
    window.start("3");
    window.abandoned = true;
    expect(window.finish("3", "late")).toBe(false);
    expect(window.restartOffset).toBe("3");
  });
});
