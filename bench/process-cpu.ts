import { execFileSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";

/** Clock ticks per second of /proc's utime and stime (USER_HZ; 100 on Linux unless built otherwise). */
const ticksPerSecond = ((): number => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** A process's (or, with a `/task/<tid>` path, a thread's) parent and CPU time from its stat file; undefined once gone. */
async function readStat(pid: number | string): Promise<{ parent: number; cpuMs: number } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  // Fields after the command name, which is in parentheses and may itself hold spaces: state is field 3.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const parent = Number(fields[1]);
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { parent, cpuMs: (ticks * 1000) / ticksPerSecond };
}

/** Every live process under `root` (children, grandchildren, …), not `root` itself. */
export async function descendantsOf(root: number): Promise<number[]> {
  const pids = (await readdir("/proc")).filter((name) => /^\d+$/.test(name)).map(Number);
  const parents = new Map<number, number>();
  await Promise.all(
    pids.map(async (pid) => {
      const stat = await readStat(pid);
      if (stat !== undefined) parents.set(pid, stat.parent);
    }),
  );
  const found: number[] = [];
  const frontier = [root];
  while (frontier.length > 0) {
    const parent = frontier.pop();
    for (const [pid, itsParent] of parents)
      if (itsParent === parent && !found.includes(pid)) {
        found.push(pid);
        frontier.push(pid);
      }
  }
  return found;
}

/** Named groups of processes whose CPU time is sampled together (a stage, its tool servers, the broker). */
export type ProcessGroups = ReadonlyMap<string, readonly number[]>;

/** CPU milliseconds (user + system) each group has used so far; a process that is gone counts 0. */
export async function sampleCpu(groups: ProcessGroups): Promise<Map<string, number>> {
  const sample = new Map<string, number>();
  for (const [name, pids] of groups) {
    const stats = await Promise.all(pids.map(readStat));
    sample.set(
      name,
      stats.reduce((sum, stat) => sum + (stat?.cpuMs ?? 0), 0),
    );
  }
  if (!sample.has("bench")) {
    const usage = process.cpuUsage();
    sample.set("bench", (usage.user + usage.system) / 1000);
  }
  return sample;
}

/** CPU milliseconds each group used between two samples. */
export function cpuBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  return new Map([...after].map(([name, ms]) => [name, ms - (before.get(name) ?? 0)]));
}

/**
 * CPU milliseconds so far of each thread of `pid`, summed by thread name with numbering dropped (the JVM names a
 * broker's threads by role: `data-plane-kafk…` request handlers and network threads, `TxnMarkerSender…`, GC, JIT).
 * Linux keeps 15 characters of a thread's name.
 */
export async function sampleThreads(pid: number): Promise<Map<string, number>> {
  const sample = new Map<string, number>();
  const threads = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  await Promise.all(
    threads.map(async (thread) => {
      const name = await readFile(`/proc/${pid}/task/${thread}/comm`, "utf8").catch(() => undefined);
      const stat = await readStat(`${pid}/task/${thread}`);
      if (name === undefined || stat === undefined) return;
      const role = name.trim().replace(/[-#]?\d+$/, "");
      sample.set(role, (sample.get(role) ?? 0) + stat.cpuMs);
    }),
  );
  return sample;
}
