import { mkdir, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { localEndpoints } from "../../shared/telemetry/local-endpoints.ts";
import { stageNames, type StageName } from "../stage-commands.ts";
import { readLogTail, logContainsSince } from "./log-tail.ts";
import { readPidFile, removePidFile, writePidFile } from "./pid-file.ts";
import { isProcessAlive, processArguments, spawnDetached, stopProcess, type StopOutcome } from "./process-control.ts";
import {
  hasInstanceTags,
  instanceArguments,
  instanceFileNames,
  instanceHttpPort,
  instanceMetricsPort,
  instanceName,
  legacyFileNames,
  parsePidFileName,
  planScale,
  type InstanceKey,
} from "./stage-instances.ts";
import { repositoryRoot, resolveStackPaths } from "./stack-paths.ts";

/** One background instance of a stage, started by `baton demo` or `baton scale`. */
export interface StageProcessStatus {
  stage: StageName;
  /** 1..n; the single instance older code started (`<stage>.pid`) counts as 1. */
  instance: number;
  /** Started by older code, with no instance number in its files or tags. */
  legacy: boolean;
  pid: number | null;
  running: boolean;
  /** Where it serves /metrics: the port it announced under .baton/run/metrics, else the port it was given. */
  metricsPort: number;
  pidFile: string;
  logFile: string;
}

/** An instance just started, with how far its log went before it: its own lines come after `logOffset`. */
export interface StartedInstance extends StageProcessStatus {
  logOffset: number;
}

/** What stopping an instance did. */
export interface StoppedInstance extends StageProcessStatus {
  outcome: StopOutcome | "not-running";
}

/** How long a stage instance may take to stop after SIGTERM: past its own 30 s shutdown deadline (shared/shutdown.ts). */
export const stageStopGraceMs = 35_000;

/** Where the background stages keep their pid and log files. */
export function stagesDirectory(stateDir?: string): string {
  return join(resolveStackPaths(stateDir).stackDir, "stages");
}

async function announcedPorts(): Promise<Map<number, number>> {
  const ports = new Map<number, number>();
  for (const entry of await localEndpoints()) ports.set(entry.pid, Number(new URL(entry.url).port));
  return ports;
}

async function inspect(key: InstanceKey, directory: string, ports: Map<number, number>): Promise<StageProcessStatus> {
  const files = key.legacy ? legacyFileNames(key.stage) : instanceFileNames(key.stage, key.instance);
  const pidFile = join(directory, files.pidFile);
  const logFile = join(directory, files.logFile);
  const recorded = await readPidFile(pidFile);
  let pid: number | null = null;
  if (recorded !== undefined && isProcessAlive(recorded)) {
    const args = await processArguments(recorded);
    if (args !== undefined && hasInstanceTags(args, key)) pid = recorded;
  }
  const metricsPort = (pid === null ? undefined : ports.get(pid)) ?? instanceMetricsPort(key.stage, key.instance);
  return { ...key, pid, running: pid !== null, metricsPort, pidFile, logFile };
}

/** Every instance of `stage` with a pid file, running or not, by instance number. */
export async function stageInstances(stage: StageName, stateDir?: string): Promise<StageProcessStatus[]> {
  return (await pipelineStatus(stateDir)).filter((instance) => instance.stage === stage);
}

/** Every background instance with a pid file, running or not, in pipeline order and then by instance number. */
export async function pipelineStatus(stateDir?: string): Promise<StageProcessStatus[]> {
  const directory = stagesDirectory(stateDir);
  const names = await readdir(directory).catch(() => [] as string[]);
  const keys = names.map(parsePidFileName).filter((key) => key !== undefined);
  const ports = await announcedPorts();
  const instances = await Promise.all(keys.map((key) => inspect(key, directory, ports)));
  return instances.sort(
    (a, b) =>
      stageNames.indexOf(a.stage) - stageNames.indexOf(b.stage) ||
      a.instance - b.instance ||
      Number(b.legacy) - Number(a.legacy),
  );
}

/** Starts instance `instance` of `stage` as a detached process serving /metrics on its own port. */
async function startInstance(
  stage: StageName,
  instance: number,
  env: Record<string, string>,
  stateDir?: string,
): Promise<StartedInstance> {
  const directory = stagesDirectory(stateDir);
  await mkdir(directory, { recursive: true });
  const files = instanceFileNames(stage, instance);
  const pidFile = join(directory, files.pidFile);
  const logFile = join(directory, files.logFile);
  const logOffset = await stat(logFile).then(
    (info) => info.size,
    () => 0,
  );
  const metricsPort = instanceMetricsPort(stage, instance);
  const pid = await spawnDetached(
    process.execPath,
    [
      "--disable-warning=TimeoutNegativeWarning",
      join(repositoryRoot, "cli", "main.ts"),
      stage,
      ...instanceArguments(stage, instance),
    ],
    {
      cwd: repositoryRoot,
      logFile,
      env: {
        ...process.env,
        ...env,
        METRICS_PORT: String(metricsPort),
        ...(stage === "gateway" ? { GATEWAY_PORT: String(instanceHttpPort(instance)) } : {}),
      },
    },
  );
  await writePidFile(pidFile, pid);
  return { stage, instance, legacy: false, pid, running: true, metricsPort, pidFile, logFile, logOffset };
}

async function forgetStopped(instances: StageProcessStatus[]): Promise<StageProcessStatus[]> {
  const running = instances.filter((instance) => instance.running);
  await Promise.all(instances.filter((instance) => !instance.running).map((gone) => removePidFile(gone.pidFile)));
  return running;
}

/**
 * Starts instance 1 of every stage that has no instance running, as detached processes, each with `env` (or the
 * environment `env` gives for its stage: its own credentials on a secured cluster); resolves to every running
 * instance (`logOffset` 0 for those already running). Wait for them with {@link waitForInstances}.
 */
export async function startPipeline(
  env: Record<string, string> | ((stage: StageName) => Record<string, string>) = {},
  stateDir?: string,
): Promise<StartedInstance[]> {
  const running = await forgetStopped(await pipelineStatus(stateDir));
  const started: StartedInstance[] = [];
  for (const stage of stageNames) {
    if (running.some((instance) => instance.stage === stage)) continue;
    started.push(await startInstance(stage, 1, typeof env === "function" ? env(stage) : env, stateDir));
  }
  const all = [...running.map((instance) => ({ ...instance, logOffset: 0 })), ...started];
  return all.sort((a, b) => stageNames.indexOf(a.stage) - stageNames.indexOf(b.stage) || a.instance - b.instance);
}

/**
 * Waits until each instance's log says `stage running` (after its `logOffset`); throws naming the instance, with the
 * end of its log, when one exits first or the time is up.
 */
export async function waitForInstances<
  Instance extends Pick<StartedInstance, "stage" | "instance" | "pid" | "logFile" | "logOffset">,
>(
  instances: readonly Instance[],
  timeoutMs: number,
  onRunning: (instance: Instance) => void | Promise<void> = () => {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const results = await Promise.allSettled(
    instances.map(async (instance) => {
      const name = instanceName(instance.stage, instance.instance);
      for (;;) {
        if (await logContainsSince(instance.logFile, '"msg":"stage running"', instance.logOffset)) break;
        const exited = instance.pid !== null && !isProcessAlive(instance.pid);
        if (exited || Date.now() > deadline) {
          const tail = (await readLogTail(instance.logFile, 5, instance.logOffset)).join("\n");
          const why = exited ? "exited while starting" : `did not start within ${timeoutMs / 1000}s`;
          throw new Error(`${name} (pid ${instance.pid ?? "?"}) ${why}; its log (${instance.logFile}) ends:\n${tail}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      await onRunning(instance);
    }),
  );
  const failures = results.flatMap((result) => (result.status === "rejected" ? [String(result.reason)] : []));
  if (failures.length > 0) throw new Error(failures.map((failure) => failure.replace(/^Error: /, "")).join("\n"));
}

/** How {@link scaleStage} reports and how patient it is. */
export interface ScaleOptions {
  /** Added to the environment of the instances it starts. */
  env?: Record<string, string>;
  stateDir?: string;
  /** How long an instance may take to exit after SIGTERM before it gets SIGKILL. Default {@link stageStopGraceMs}. */
  graceMs?: number;
  /** How long a new instance may take to log `stage running`. Default 90 s. */
  startTimeoutMs?: number;
  /** Called when a new instance has been spawned, before it runs. */
  onStarting?: (instance: StartedInstance) => void;
  /** Called before an instance is asked to stop. */
  onStopping?: (instance: StageProcessStatus) => void;
  /** Called once a new instance runs. */
  onStarted?: (instance: StartedInstance) => void;
  /** Called once an instance has stopped. */
  onStopped?: (instance: StoppedInstance) => void;
}

/** What {@link scaleStage} did, and the instances running afterwards. */
export interface ScaleResult {
  started: StartedInstance[];
  stopped: StoppedInstance[];
  instances: StageProcessStatus[];
}

/**
 * Starts or stops background instances of `stage` until `target` run: new ones take the lowest free numbers and are
 * waited for; surplus ones stop gracefully one at a time, highest number first. Pid files of dead instances are dropped.
 */
export async function scaleStage(stage: StageName, target: number, options: ScaleOptions = {}): Promise<ScaleResult> {
  const running = await forgetStopped(await stageInstances(stage, options.stateDir));
  const plan = planScale(running, target);
  const stopped: StoppedInstance[] = [];
  for (const instance of plan.stop) {
    options.onStopping?.(instance);
    const done = await stopInstance(instance, options.graceMs);
    stopped.push(done);
    options.onStopped?.(done);
  }
  const started: StartedInstance[] = [];
  for (const number of plan.start) {
    const instance = await startInstance(stage, number, options.env ?? {}, options.stateDir);
    started.push(instance);
    options.onStarting?.(instance);
  }
  await waitForInstances(started, options.startTimeoutMs ?? 90_000, async (instance) => {
    if (instance.pid !== null)
      instance.metricsPort = (await announcedPorts()).get(instance.pid) ?? instance.metricsPort;
    options.onStarted?.(instance);
  });
  const instances = (await stageInstances(stage, options.stateDir)).filter((instance) => instance.running);
  return { started, stopped, instances };
}

async function stopInstance(instance: StageProcessStatus, graceMs = stageStopGraceMs): Promise<StoppedInstance> {
  const outcome = instance.pid === null ? ("not-running" as const) : await stopProcess(instance.pid, graceMs);
  await removePidFile(instance.pidFile);
  return { ...instance, running: false, outcome };
}

/** Stops every background instance this CLI started (SIGTERM, then SIGKILL after the grace period). */
export async function stopPipeline(stateDir?: string, graceMs = stageStopGraceMs): Promise<StoppedInstance[]> {
  return Promise.all((await pipelineStatus(stateDir)).map((instance) => stopInstance(instance, graceMs)));
}
