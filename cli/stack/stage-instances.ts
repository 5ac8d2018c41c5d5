import { requestPartitions } from "../../shared/topics.ts";
import { stageNames, type StageName } from "../stage-commands.ts";

/** Where each stage serves /metrics when METRICS_PORT is not set (the default in its config.ts). */
export const defaultMetricsPorts: Record<StageName, number> = {
  planner: 9464,
  policy: 9465,
  executor: 9466,
  summarizer: 9467,
  gateway: 9468,
};

/** Instance i of the gateway serves its HTTP API on 8080 + 10·(i−1) (8081 is the schema registry's). */
export function instanceHttpPort(instance: number): number {
  return 8080 + 10 * (instance - 1);
}

/** Most background instances of one stage: one per partition of the per-request topics; more would sit idle. */
export const maxInstances: number = requestPartitions;

/** Instance i of a stage serves /metrics on its stage's default port + 10·(i−1), clear of the other stages' ports. */
export function instanceMetricsPort(stage: StageName, instance: number): number {
  return defaultMetricsPorts[stage] + 10 * (instance - 1);
}

/** A background instance's name, as its files are named and as the CLI prints it: `executor-2`. */
export function instanceName(stage: StageName, instance: number): string {
  return `${stage}-${instance}`;
}

/** The pid file and log file names of instance i of a stage, in the stages folder. */
export function instanceFileNames(stage: StageName, instance: number): { pidFile: string; logFile: string } {
  const name = instanceName(stage, instance);
  return { pidFile: `${name}.pid`, logFile: `${name}.log` };
}

/** The file names older code used for the single instance of a stage: `<stage>.pid`, `<stage>.log`. */
export function legacyFileNames(stage: StageName): { pidFile: string; logFile: string } {
  return { pidFile: `${stage}.pid`, logFile: `${stage}.log` };
}

/** An instance a pid file names; one started by older code (`<stage>.pid`) is legacy and counts as instance 1. */
export interface InstanceKey {
  stage: StageName;
  instance: number;
  legacy: boolean;
}

const pidFilePattern = /^([a-z]+)(?:-([1-9]\d*))?\.pid$/;

/** Reads a file name of the stages folder: `<stage>-<i>.pid` or the legacy `<stage>.pid`; undefined for any other. */
export function parsePidFileName(name: string): InstanceKey | undefined {
  const match = pidFilePattern.exec(name);
  const stage = stageNames.find((known) => known === match?.[1]);
  if (match === null || stage === undefined) return undefined;
  const number = match[2];
  if (number === undefined) return { stage, instance: 1, legacy: true };
  const instance = Number(number);
  return Number.isSafeInteger(instance) ? { stage, instance, legacy: false } : undefined;
}

/** The tag process listings show for every instance of a stage (`pgrep -f baton.stage=executor` finds them). */
export function stageTag(stage: StageName): string {
  return `baton.stage=${stage}`;
}

function instanceTag(instance: number): string {
  return `baton.instance=${instance}`;
}

/** The arguments after `baton <stage>` that tag an instance in process listings. */
export function instanceArguments(stage: StageName, instance: number): string[] {
  return ["--tag", stageTag(stage), "--tag", instanceTag(instance)];
}

/**
 * True when a process was started with `key`'s tags: whole arguments are compared, so instance 1 is never taken
 * for instance 12; a legacy instance has the stage's tag and no instance tag.
 */
export function hasInstanceTags(args: readonly string[], key: InstanceKey): boolean {
  if (!args.includes(stageTag(key.stage))) return false;
  return key.legacy ? !args.some((arg) => arg.startsWith("baton.instance=")) : args.includes(instanceTag(key.instance));
}

/** What to do to run `target` instances: the numbers to start (the lowest free ones) and the instances to stop. */
export interface ScalePlan<Instance extends { instance: number; legacy: boolean }> {
  start: number[];
  /** Highest instance number first; a legacy instance after a new one of the same number. */
  stop: Instance[];
}

/** Plans scaling from the running instances to `target`. */
export function planScale<Instance extends { instance: number; legacy: boolean }>(
  running: readonly Instance[],
  target: number,
): ScalePlan<Instance> {
  if (running.length >= target) {
    const order = [...running].sort((a, b) => b.instance - a.instance || Number(a.legacy) - Number(b.legacy));
    return { start: [], stop: order.slice(0, running.length - target) };
  }
  const taken = new Set(running.map((instance) => instance.instance));
  const start: number[] = [];
  for (let number = 1; start.length < target - running.length; number += 1) {
    if (!taken.has(number)) start.push(number);
  }
  return { start, stop: [] };
}
