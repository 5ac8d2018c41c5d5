// Stages on one machine say where they serve /metrics, so `baton top` finds every instance, including a second
// one that took a free port because the default was taken. One small file per process under .baton/run/metrics;
// a file whose process is gone is ignored and removed by the next reader. Elsewhere (a container, a read-only
// checkout) nothing is written and nothing breaks: Prometheus discovers instances there.
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { fromRoot } from "../paths.ts";

/** Where the files live, by default. */
export const localEndpointsDirectory = fromRoot(".baton", "run", "metrics");

const entrySchema = z.object({ stage: z.string().min(1), pid: z.number().int().positive(), url: z.url() });

/** One stage process and where its /metrics are. */
export type LocalEndpoint = z.infer<typeof entrySchema>;

/** Writes this process's entry; resolves to the function that removes it (at shutdown). */
export async function announceEndpoint(
  entry: { stage: string; port: number; pid?: number },
  directory = localEndpointsDirectory,
): Promise<() => Promise<void>> {
  const pid = entry.pid ?? process.pid;
  const file = join(directory, `${entry.stage}-${pid}.json`);
  const value: LocalEndpoint = { stage: entry.stage, pid, url: `http://127.0.0.1:${entry.port}/metrics` };
  await mkdir(directory, { recursive: true });
  await writeFile(file, `${JSON.stringify(value)}\n`);
  return () => rm(file, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as unknown;
  } catch {
    return undefined;
  }
}

/** The entries of live processes, by file name order; files of processes that are gone are removed. */
export async function localEndpoints(directory = localEndpointsDirectory): Promise<LocalEndpoint[]> {
  const names = await readdir(directory).catch(() => [] as string[]);
  const entries: LocalEndpoint[] = [];
  for (const name of names.filter((file) => file.endsWith(".json")).sort()) {
    const file = join(directory, name);
    const parsed = entrySchema.safeParse(await readJson(file));
    if (!parsed.success || !alive(parsed.data.pid)) {
      await rm(file, { force: true });
      continue;
    }
    entries.push(parsed.data);
  }
  return entries;
}
