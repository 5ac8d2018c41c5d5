import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

/** Absolute path of a server entry point, e.g. `serverPath("ticketing")`. */
export function serverPath(name: "knowledge-base" | "ticketing" | "outbox"): string {
  return fileURLToPath(new URL(`../${name}/server.ts`, import.meta.url));
}

/** A fresh temporary data directory and a way to remove it. */
export async function temporaryDataDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "baton-tools-"));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** The records of a JSON lines file, or none if it does not exist. */
export async function readJsonLines(path: string): Promise<unknown[]> {
  const text = await readFile(path, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as unknown);
}

/** An MCP client connected to a server, with what the server wrote to stderr. */
export interface Connection {
  client: Client;
  stderr: () => string;
  close: () => Promise<void>;
}

/** Spawns a stdio server with the official SDK client, with `env` on top of the SDK's default environment. */
export async function connectStdio(server: string, env: Record<string, string>): Promise<Connection> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [server],
    env: { ...getDefaultEnvironment(), ...env },
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const client = new Client({ name: "baton-tools-test", version: "0.0.0" });
  await client.connect(transport);
  return { client, stderr: () => stderr, close: () => client.close() };
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port assigned");
  return address.port;
}

/** A running HTTP server process. */
export interface HttpServerProcess {
  baseUrl: string;
  child: ChildProcess;
  stderr: () => string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop: () => Promise<number | null>;
}

/** Spawns an HTTP server on a free port (given as `portVariable`) and waits until `GET /healthz` answers 200. */
export async function startHttpServer(
  server: string,
  portVariable: string,
  env: Record<string, string>,
): Promise<HttpServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [server], {
    env: { ...getDefaultEnvironment(), ...env, [portVariable]: String(port) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${stderr}`);
    const healthy = await fetch(`${baseUrl}/healthz`).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server not healthy in time: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    baseUrl,
    child,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/** Connects the official SDK client to a Streamable HTTP MCP endpoint. */
export async function connectHttp(url: string): Promise<Client> {
  const client = new Client({ name: "baton-tools-test", version: "0.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

/** Calls a tool and returns the result typed as a plain (non-task) tool result. */
export async function callTool(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

/** The text of a tool result's first content block. */
export function resultText(result: CallToolResult): string {
  const first = result.content[0];
  return first?.type === "text" ? first.text : "";
}

/** Runs a server that is expected to stop by itself and returns its exit code and stderr. */
export async function runUntilExit(
  server: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [server], {
    env: { ...getDefaultEnvironment(), ...env },
    stdio: ["pipe", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const code = await new Promise<number | null>((resolve) => child.once("exit", (exitCode) => resolve(exitCode)));
  return { code, stderr };
}
