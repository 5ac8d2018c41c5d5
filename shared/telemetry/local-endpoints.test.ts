import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { announceEndpoint, localEndpoints } from "./local-endpoints.ts";

describe("local metrics endpoints", () => {
  let directory: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), "baton-endpoints-"));
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it("lists what live processes announced, and forgets an entry once it is withdrawn", async () => {
    const withdrawFirst = await announceEndpoint({ stage: "executor", port: 9466 }, directory);
    await announceEndpoint({ stage: "executor", port: 41234, pid: process.ppid }, directory);
    const listed = await localEndpoints(directory);
    expect(listed.map((entry) => [entry.pid, entry.url]).sort()).toEqual(
      [
        [process.pid, "http://127.0.0.1:9466/metrics"],
        [process.ppid, "http://127.0.0.1:41234/metrics"],
      ].sort(),
    );
    expect(listed.every((entry) => entry.stage === "executor")).toBe(true);
    await withdrawFirst();
    expect((await localEndpoints(directory)).map((entry) => entry.url)).toEqual(["http://127.0.0.1:41234/metrics"]);
  });

  it("drops and removes the files of processes that are gone, and files it cannot read", async () => {
    await announceEndpoint({ stage: "planner", port: 9464 }, directory);
    await announceEndpoint({ stage: "planner", port: 9474, pid: 2 ** 30 }, directory);
    await writeFile(join(directory, "policy-7.json"), "not json");
    expect((await localEndpoints(directory)).map((entry) => entry.url)).toEqual(["http://127.0.0.1:9464/metrics"]);
    expect(await readdir(directory)).toEqual([`planner-${process.pid}.json`]);
  });

  it("finds nothing where nothing was announced", async () => {
    expect(await localEndpoints(join(directory, "missing"))).toEqual([]);
  });
});
