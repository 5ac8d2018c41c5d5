import { open } from "node:fs/promises";

/** The last `count` non-empty lines of `text`. */
export function lastLines(text: string, count: number): string[] {
  const lines = text.split(/\r?\n/).filter((line) => line.trim().length > 0);
  return lines.slice(Math.max(0, lines.length - count));
}

/**
 * The last `count` lines of a log file written after byte `fromOffset` (all of it when the file has since shrunk),
 * reading at most its final 64 KiB; empty when the file is missing.
 */
export async function readLogTail(path: string, count: number, fromOffset = 0): Promise<string[]> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch {
    return [];
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(size < fromOffset ? 0 : fromOffset, size - 64 * 1024);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    return lastLines(buffer.toString("utf8"), count);
  } finally {
    await handle.close();
  }
}

/** True when `text` occurs in the file after byte `offset` (or anywhere, if the file has since shrunk or rolled). */
export async function logContainsSince(path: string, text: string, offset: number): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch {
    return false;
  }
  try {
    const { size } = await handle.stat();
    const start = size < offset ? 0 : offset;
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    return buffer.toString("utf8").includes(text);
  } finally {
    await handle.close();
  }
}
