import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parsePidFile, readPidFile, removePidFile, writePidFile } from "./pid-file.ts";

describe("pid files", () => {
  it("accepts a single positive integer and nothing else", () => {
    expect(parsePidFile("1234\n")).toBe(1234);
    expect(parsePidFile("  42 ")).toBe(42);
    expect(parsePidFile("")).toBeUndefined();
    expect(parsePidFile("0")).toBeUndefined();
    expect(parsePidFile("-5")).toBeUndefined();
    expect(parsePidFile("12 34")).toBeUndefined();
    expect(parsePidFile("java")).toBeUndefined();
  });

  it("round-trips a pid, creating the folder, and forgets it on removal", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "baton-pid-")), "kafka", "pid");
    expect(await readPidFile(file)).toBeUndefined();
    await writePidFile(file, 31337);
    expect(await readPidFile(file)).toBe(31337);
    await removePidFile(file);
    expect(await readPidFile(file)).toBeUndefined();
    await removePidFile(file);
  });

  it("reads a garbled pid file as no pid", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "baton-pid-")), "pid");
    await writeFile(file, "not a pid");
    expect(await readPidFile(file)).toBeUndefined();
  });
});
