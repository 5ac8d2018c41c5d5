import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { stageNames, type StageName } from "../stage-commands.ts";
import { readPidFile, removePidFile, writePidFile } from "./pid-file.ts";
import { isProcessAlive, processArguments, spawnDetached, stopProcess, type StopOutcome } from "./process-control.ts";
import { repositoryRoot, resolveStackPaths } from "./stack-paths.ts";

/** One stage process started in the background by `baton demo`. */
export interface StageProcessStatus {
  stage: StageName;
  pid: number | null;
  running: boolean;
  logFile: string;
}

function stageFiles(stage: StageName, stateDir?: string): { pidFile: string; logFile: string; directory: string } {
  const directory = join(resolveStackPaths(stateDir).stackDir, "stages");
  return { directory, pidFile: join(directory, `${stage}.pid`), logFile: join(directory, `${stage}.log`) };
}

function tag(stage: StageName): string {
  return `baton.stage=${stage}`;
}

async function ownedPid(stage: StageName, stateDir?: string): Promise<number | undefined> {
  const pid = await readPidFile(stageFiles(stage, stateDir).pidFile);
  if (pid === undefined || !isProcessAlive(pid)) return undefined;
  const args = await processArguments(pid);
  return args?.includes(tag(stage)) === true ? pid : undefined;
}

/** Which stages run in the background and where they log. */
export async function pipelineStatus(stateDir?: string): Promise<StageProcessStatus[]> {
  return Promise.all(
    stageNames.map(async (stage) => {
      const pid = await ownedPid(stage, stateDir);
      return { stage, pid: pid ?? null, running: pid !== undefined, logFile: stageFiles(stage, stateDir).logFile };
    }),
  );
}

/** Starts every stage that is not already running as a detached process; returns their status. */
export async function startPipeline(
  env: Record<string, string> = {},
  stateDir?: string,
): Promise<StageProcessStatus[]> {
  for (const stage of stageNames) {
    if ((await ownedPid(stage, stateDir)) !== undefined) continue;
    const files = stageFiles(stage, stateDir);
    await mkdir(files.directory, { recursive: true });
    const pid = await spawnDetached(
      process.execPath,
      ["--disable-warning=TimeoutNegativeWarning", join(repositoryRoot, "cli", "main.ts"), stage, "--tag", tag(stage)],
      { cwd: repositoryRoot, logFile: files.logFile, env: { ...process.env, ...env } },
    );
    await writePidFile(files.pidFile, pid);
  }
  return pipelineStatus(stateDir);
}

/** Stops the background stages this CLI started (SIGTERM, then SIGKILL after the grace period). */
export async function stopPipeline(
  stateDir?: string,
  graceMs = 20_000,
): Promise<Array<{ stage: StageName; outcome: StopOutcome | "not-running" }>> {
  return Promise.all(
    stageNames.map(async (stage) => {
      const pid = await ownedPid(stage, stateDir);
      const outcome = pid === undefined ? ("not-running" as const) : await stopProcess(pid, graceMs);
      await removePidFile(stageFiles(stage, stateDir).pidFile);
      return { stage, outcome };
    }),
  );
}
