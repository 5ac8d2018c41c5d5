import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { resolveStackPaths } from "../../cli/stack/stack-paths.ts";
import { stackVersions, zipkinArguments } from "../../cli/stack/stack-services.ts";

/** A Zipkin of a test's own (never the shared stack's), from the stack's cached jar, started as the stack starts it. */
export interface OwnZipkin {
  url: string;
  spansUrl: string;
  process: ChildProcess;
  /** True when /health answers 200 within two seconds. */
  healthy(): Promise<boolean>;
  /** SIGKILLs it and waits for the exit. */
  kill(): Promise<void>;
}

/** Starts Zipkin on `port` with the stack's arguments (`maxSpans` and `heap` override them) and waits for /health. */
export async function startOwnZipkin(
  port: number,
  options: { maxSpans?: number; heap?: string } = {},
): Promise<OwnZipkin> {
  const version = stackVersions.zipkin;
  const jarFile = join(resolveStackPaths().cacheDir, `zipkin-server-${version}`, `zipkin-server-${version}-exec.jar`);
  let output = "";
  const child = spawn("java", zipkinArguments({ jarFile, port, ...options }), { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  child.stderr?.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const healthy = async (): Promise<boolean> => {
    try {
      return (await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) })).ok;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 90_000;
  while (!(await healthy())) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`own Zipkin on ${port} did not start (exit ${child.exitCode}):\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return {
    url,
    spansUrl: `${url}/api/v2/spans`,
    process: child,
    healthy,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}
