import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** The pid a pid file holds, or undefined when its text is not a single positive integer. */
export function parsePidFile(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return undefined;
  const pid = Number(trimmed);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** Reads a pid file; undefined when it is missing or unreadable as a pid. */
export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    return parsePidFile(await readFile(path, "utf8"));
  } catch (error) {
    if (isMissingFile(error)) return undefined;
    throw error;
  }
}

/** Records the pid of a process this stack started. */
export async function writePidFile(path: string, pid: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${pid}\n`);
}

/** Forgets a process; a missing pid file is fine. */
export async function removePidFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

function isMissingFile(error: unknown): boolean {
  return error instanceof Error && "code" in error && error.code === "ENOENT";
}
