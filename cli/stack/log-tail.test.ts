import { appendFile, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { lastLines, logContainsSince, readLogTail } from "./log-tail.ts";

describe("log tails", () => {
  it("keeps the last non-empty lines", () => {
    expect(lastLines("a\n\nb\r\nc\n", 2)).toEqual(["b", "c"]);
    expect(lastLines("", 5)).toEqual([]);
  });

  it("reads only what was written after an offset", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "baton-log-")), "server.log");
    await writeFile(file, "old run\nKafka Server started\n");
    const offset = Buffer.byteLength("old run\nKafka Server started\n");
    await appendFile(file, "new run\n");
    expect(await readLogTail(file, 10, offset)).toEqual(["new run"]);
    expect(await logContainsSince(file, "Kafka Server started", offset)).toBe(false);
    await appendFile(file, "Kafka Server started\n");
    expect(await logContainsSince(file, "Kafka Server started", offset)).toBe(true);
  });

  it("treats a missing log as empty", async () => {
    expect(await readLogTail("/nonexistent/baton.log", 5)).toEqual([]);
    expect(await logContainsSince("/nonexistent/baton.log", "x", 0)).toBe(false);
  });
});
