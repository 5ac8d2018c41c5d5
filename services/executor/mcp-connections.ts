import { spawn, type ChildProcess } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { BatonError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/telemetry/logger.ts";
import type { ToolCatalog } from "../../shared/schemas/records.ts";
import type { ServerSpec } from "./servers-file.ts";

/** What one tool call returned. */
export type ToolCallOutcome =
  | { status: "SUCCEEDED"; output: string }
  /** `transient`: the call failed on its way (transport, crash), not by the tool's own verdict. */
  | { status: "FAILED"; error: string; transient: boolean }
  | { status: "TIMED_OUT"; error: string };

/** Calls tools by qualified name; the executor's logic depends on this, not on MCP itself. */
export interface ToolInvoker {
  call(
    tool: string,
    args: unknown,
    options: { timeoutMs: number; meta: Record<string, string> },
  ): Promise<ToolCallOutcome>;
}

interface Connection {
  spec: ServerSpec;
  client: Client;
  started: ChildProcess | undefined;
  closed: boolean;
  reconnecting?: Promise<Connection> | undefined;
}

function resolveCommand(command: string): string {
  return command === "node" ? process.execPath : command;
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(new URL("/healthz", url))).ok;
  } catch {
    return false;
  }
}

async function waitForUrl(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const health = new URL("/healthz", url);
  while (Date.now() < deadline) {
    try {
      const response = await fetch(health);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new BatonError("TIMEOUT", `MCP server at ${url} did not answer ${health.pathname} within ${timeoutMs} ms`);
}

/** MCP client connections to every configured server (stdio and Streamable HTTP), with their tool catalogues. */
export class McpConnections implements ToolInvoker {
  private readonly connections = new Map<string, Connection>();
  private readonly logger: Logger;
  private readonly cwd: string;

  constructor(options: { logger: Logger; cwd: string }) {
    this.logger = options.logger;
    this.cwd = options.cwd;
    // Servers this executor started must not outlive it, however it exits.
    process.once("exit", () => {
      for (const connection of this.connections.values()) connection.started?.kill("SIGTERM");
      for (const child of this.startedBeforeConnect) child.kill("SIGTERM");
    });
  }

  private readonly startedBeforeConnect = new Set<ChildProcess>();
  private readonly idempotentTools = new Map<string, boolean>();
  private readonly readOnlyTools = new Set<string>();

  /**
   * Whether calling a tool twice is safe, from its MCP annotations (readOnlyHint or idempotentHint); a tool
   * that says neither is treated as having side effects that must happen once.
   */
  isIdempotent(tool: string): boolean {
    return this.idempotentTools.get(tool) ?? false;
  }

  /** Whether a tool's MCP annotations say it only reads (readOnlyHint), as `baton replay --tools read-only` asks. */
  isReadOnly(tool: string): boolean {
    return this.readOnlyTools.has(tool);
  }

  /** Starts (when configured) and connects every server; fails naming the first server that cannot be reached. */
  async connect(servers: ServerSpec[]): Promise<void> {
    for (const spec of servers) {
      this.connections.set(spec.name, await this.connectOne(spec));
      this.logger.info({ server: spec.name, transport: spec.transport }, "connected to MCP server");
    }
  }

  private async connectOne(spec: ServerSpec): Promise<Connection> {
    const client = new Client({ name: "baton-executor", version: "0.1.0" });
    let started: ChildProcess | undefined;
    const connection: Connection = { spec, client, started: undefined, closed: false };
    client.onclose = () => {
      connection.closed = true;
    };
    try {
      if (spec.transport === "stdio") {
        const transport = new StdioClientTransport({
          command: resolveCommand(spec.command),
          args: spec.args,
          env: { ...(process.env as Record<string, string>), ...spec.env },
          cwd: this.cwd,
          stderr: "inherit",
        });
        await client.connect(transport);
      } else {
        if (spec.start !== undefined && !(await answers(spec.url))) {
          started = spawn(resolveCommand(spec.start.command), spec.start.args, {
            cwd: this.cwd,
            env: { ...process.env, ...spec.start.env },
            stdio: ["ignore", "inherit", "inherit"],
          });
          this.startedBeforeConnect.add(started);
          await waitForUrl(spec.url, 30_000);
        }
        await client.connect(new StreamableHTTPClientTransport(new URL(spec.url)));
      }
    } catch (error) {
      started?.kill("SIGTERM");
      throw new BatonError("INTERNAL", `cannot connect to MCP server ${spec.name}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    connection.started = started;
    return connection;
  }

  /** A live connection to a server, reconnecting (and restarting a stdio server) when its transport closed. */
  private async live(name: string): Promise<Connection | undefined> {
    const connection = this.connections.get(name);
    if (connection === undefined || !connection.closed) return connection;
    connection.reconnecting ??= (async () => {
      connection.started?.kill("SIGTERM");
      try {
        const fresh = await this.connectOne(connection.spec);
        this.connections.set(name, fresh);
        this.logger.warn({ server: name }, "reconnected to MCP server after its connection closed");
        return fresh;
      } finally {
        connection.reconnecting = undefined;
      }
    })();
    return connection.reconnecting;
  }

  /** Each server's tools from tools/list, with qualified names `<server>/<tool>`. */
  async catalogues(now: number): Promise<ToolCatalog[]> {
    const catalogues: ToolCatalog[] = [];
    for (const [name, connection] of this.connections) {
      const { tools } = await connection.client.listTools();
      catalogues.push({
        server: name,
        transport: connection.spec.transport,
        tools: tools.map((tool) => {
          const hints = tool.annotations;
          if (hints?.readOnlyHint === true) this.readOnlyTools.add(`${name}/${tool.name}`);
          this.idempotentTools.set(
            `${name}/${tool.name}`,
            hints?.readOnlyHint === true || hints?.idempotentHint === true,
          );
          return {
            name: `${name}/${tool.name}`,
            description: tool.description ?? "",
            inputSchema: JSON.stringify(tool.inputSchema),
          };
        }),
        updatedAt: now,
      });
    }
    return catalogues;
  }

  async call(
    tool: string,
    args: unknown,
    options: { timeoutMs: number; meta: Record<string, string> },
  ): Promise<ToolCallOutcome> {
    const slash = tool.indexOf("/");
    let connection: Connection | undefined;
    try {
      connection = slash < 0 ? undefined : await this.live(tool.slice(0, slash));
    } catch (error) {
      return { status: "FAILED", error: (error as Error).message, transient: true };
    }
    if (slash < 0 || connection === undefined) {
      return { status: "FAILED", error: `no MCP server offers ${tool}`, transient: false };
    }
    try {
      const result = await connection.client.callTool(
        { name: tool.slice(slash + 1), arguments: args as Record<string, unknown>, _meta: options.meta },
        undefined,
        { timeout: options.timeoutMs },
      );
      const parts: unknown[] = Array.isArray(result.content) ? (result.content as unknown[]) : [];
      const text = parts
        .filter((part): part is { type: "text"; text: string } => (part as { type?: unknown }).type === "text")
        .map((part) => part.text)
        .join("\n");
      if (result.isError === true)
        return { status: "FAILED", error: text || "the tool reported an error", transient: false };
      const output = result.structuredContent ?? (text === "" ? null : { text });
      return { status: "SUCCEEDED", output: JSON.stringify(output) };
    } catch (error) {
      if (error instanceof McpError && error.code === (ErrorCode.RequestTimeout as number)) {
        return { status: "TIMED_OUT", error: `${tool} did not answer within ${options.timeoutMs} ms` };
      }
      // A transport failure (the server went away): the next call reconnects, restarting a server we started.
      if (!(error instanceof McpError)) connection.closed = true;
      return { status: "FAILED", error: `${tool} failed: ${(error as Error).message}`, transient: true };
    }
  }

  /** The MCP session of the server offering a tool, when its transport has one (Streamable HTTP); for tracing. */
  sessionId(tool: string): string | undefined {
    const connection = this.connections.get(tool.slice(0, Math.max(0, tool.indexOf("/"))));
    const transport = connection?.client.transport as { sessionId?: string } | undefined;
    return transport?.sessionId;
  }

  /** Closes every client and stops the servers this executor started. */
  async close(): Promise<void> {
    for (const connection of this.connections.values()) {
      await connection.client.close().catch(() => undefined);
      connection.started?.kill("SIGTERM");
    }
    this.connections.clear();
  }
}
