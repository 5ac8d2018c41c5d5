import { execFile, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { waitUntil } from "./wait-until.ts";

const execFileAsync = promisify(execFile);

/** True when a process with this pid exists (it may belong to another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error instanceof Error && "code" in error && error.code === "EPERM";
  }
}

/** The arguments a live process was started with, from /proc or else `ps`; undefined when it is gone. */
export async function processArguments(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, "utf8");
    return raw.length === 0 ? undefined : raw.split("\0").filter((part) => part.length > 0);
  } catch {
    try {
      const { stdout } = await execFileAsync("ps", ["-o", "args=", "-p", String(pid)]);
      const line = stdout.trim();
      return line.length === 0 ? undefined : line.split(/\s+/);
    } catch {
      return undefined;
    }
  }
}

/** The JVM flag that marks a process as one this stack started, so pid reuse never makes us stop a stranger. */
export function ownershipFlag(serviceName: string): string {
  return `-Dbaton.stack=${serviceName}`;
}

/** True when `pid` is alive and was started by this stack as `serviceName`. */
export async function isOwnedProcess(pid: number, serviceName: string): Promise<boolean> {
  if (!isProcessAlive(pid)) return false;
  const args = await processArguments(pid);
  return args?.includes(ownershipFlag(serviceName)) ?? false;
}

/** What a detached process is started with. */
export interface DetachedProcessOptions {
  cwd: string;
  /** Receives the process's stdout and stderr (appended). */
  logFile: string;
  /** The environment; the CLI's own when not given. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts a process in its own session so it outlives the CLI and ignores the terminal's Ctrl-C; returns its pid.
 * Throws when the command cannot be started at all (for example, it does not exist).
 */
export async function spawnDetached(
  command: string,
  args: readonly string[],
  options: DetachedProcessOptions,
): Promise<number> {
  const output = openSync(options.logFile, "a");
  try {
    const child = spawn(command, args, {
      cwd: options.cwd,
      detached: true,
      stdio: ["ignore", output, output],
      env: options.env ?? process.env,
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once("error", reject);
      child.once("spawn", () => {
        if (child.pid === undefined) reject(new Error(`${command} started without a pid`));
        else resolve(child.pid);
      });
    });
    child.unref();
    return pid;
  } finally {
    closeSync(output);
  }
}

/** How a process ended when asked to stop. */
export type StopOutcome = "terminated" | "killed" | "already-gone";

/** Sends SIGTERM, waits up to `graceMs` for the process to exit, then SIGKILL; throws if it still lives after that. */
export async function stopProcess(pid: number, graceMs: number, killWaitMs = 5_000): Promise<StopOutcome> {
  if (!signal(pid, "SIGTERM")) return "already-gone";
  if (await waitUntil(() => !isProcessAlive(pid), { timeoutMs: graceMs, intervalMs: 100 })) return "terminated";
  signal(pid, "SIGKILL");
  if (await waitUntil(() => !isProcessAlive(pid), { timeoutMs: killWaitMs, intervalMs: 100 })) return "killed";
  throw new Error(`process ${pid} is still alive after SIGKILL`);
}

function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch (error) {
    if (error instanceof Error && "code" in error && error.code === "ESRCH") return false;
    throw error;
  }
}
