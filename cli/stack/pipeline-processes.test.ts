import { mkdir, mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writePidFile } from "./pid-file.ts";
import { pipelineStatus, scaleStage, stagesDirectory, stopPipeline } from "./pipeline-processes.ts";
import { isProcessAlive, spawnDetached, stopProcess } from "./process-control.ts";
import { instanceArguments, stageTag } from "./stage-instances.ts";

const started: number[] = [];

/** A stand-in for a stage instance: a sleeping node process with the given tags, recorded in `pidFileName`. */
async function fakeInstance(stateDir: string, pidFileName: string, tags: string[]): Promise<number> {
  const directory = stagesDirectory(stateDir);
  await mkdir(directory, { recursive: true });
  const pid = await spawnDetached(process.execPath, ["-e", "setInterval(() => {}, 1000)", "--", ...tags], {
    cwd: directory,
    logFile: join(directory, pidFileName.replace(/\.pid$/, ".log")),
  });
  started.push(pid);
  await writePidFile(join(directory, pidFileName), pid);
  return pid;
}

afterEach(async () => {
  for (const pid of started.splice(0)) if (isProcessAlive(pid)) await stopProcess(pid, 1_000);
});

describe("background stage instances", { timeout: 20_000 }, () => {
  it("lists numbered and legacy instances by their pid files, and only processes carrying their tags as running", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "baton-stages-"));
    const first = await fakeInstance(stateDir, "executor-1.pid", instanceArguments("executor", 1));
    const second = await fakeInstance(stateDir, "executor-2.pid", instanceArguments("executor", 2));
    const legacy = await fakeInstance(stateDir, "planner.pid", ["--tag", stageTag("planner")]);
    // A live process recorded as executor-12 but tagged as instance 1: a reused pid, never ours.
    await fakeInstance(stateDir, "executor-12.pid", instanceArguments("executor", 1));

    const status = await pipelineStatus(stateDir);

    expect(
      status.map(({ stage, instance, legacy, pid, running }) => ({ stage, instance, legacy, pid, running })),
    ).toEqual([
      { stage: "planner", instance: 1, legacy: true, pid: legacy, running: true },
      { stage: "executor", instance: 1, legacy: false, pid: first, running: true },
      { stage: "executor", instance: 2, legacy: false, pid: second, running: true },
      { stage: "executor", instance: 12, legacy: false, pid: null, running: false },
    ]);
    expect(status[0]?.logFile).toBe(join(stagesDirectory(stateDir), "planner.log"));
    expect(status.map((instance) => instance.metricsPort)).toEqual([9464, 9466, 9476, 9576]);
  });

  it("scales down highest number first, a legacy instance last, and forgets their pid files", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "baton-stages-"));
    const legacy = await fakeInstance(stateDir, "executor.pid", ["--tag", stageTag("executor")]);
    const second = await fakeInstance(stateDir, "executor-2.pid", instanceArguments("executor", 2));
    const third = await fakeInstance(stateDir, "executor-3.pid", instanceArguments("executor", 3));
    const order: number[] = [];

    const result = await scaleStage("executor", 1, {
      stateDir,
      graceMs: 2_000,
      onStopped: (i) => order.push(i.instance),
    });

    expect(order).toEqual([3, 2]);
    expect(result.stopped.map((instance) => instance.outcome)).toEqual(["terminated", "terminated"]);
    expect([isProcessAlive(third), isProcessAlive(second), isProcessAlive(legacy)]).toEqual([false, false, true]);
    expect(result.instances.map((instance) => [instance.instance, instance.legacy, instance.pid])).toEqual([
      [1, true, legacy],
    ]);
    expect((await scaleStage("executor", 1, { stateDir })).stopped).toEqual([]);

    await scaleStage("executor", 0, { stateDir, graceMs: 2_000 });
    expect(isProcessAlive(legacy)).toBe(false);
    expect((await readdir(stagesDirectory(stateDir))).filter((name) => name.endsWith(".pid"))).toEqual([]);
  });

  it("stops every instance of every stage on stack down, old and new, and nothing it does not own", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "baton-stages-"));
    const legacy = await fakeInstance(stateDir, "policy.pid", ["--tag", stageTag("policy")]);
    const numbered = await fakeInstance(stateDir, "summarizer-4.pid", instanceArguments("summarizer", 4));
    const stranger = await fakeInstance(stateDir, "summarizer-5.pid", ["--tag", "something-else"]);

    const stopped = await stopPipeline(stateDir, 2_000);

    expect(stopped.map((instance) => [instance.stage, instance.instance, instance.outcome])).toEqual([
      ["policy", 1, "terminated"],
      ["summarizer", 4, "terminated"],
      ["summarizer", 5, "not-running"],
    ]);
    expect([isProcessAlive(legacy), isProcessAlive(numbered), isProcessAlive(stranger)]).toEqual([false, false, true]);
  });
});
