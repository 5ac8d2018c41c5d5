import { readFile } from "node:fs/promises";
import { z } from "zod";
import { BatonError } from "../../shared/errors.ts";
import { parseDeclarativeFile } from "../../shared/declarative-file.ts";
import { retryLadder } from "../../shared/topics.ts";

const serverName = z.string().regex(/^[A-Za-z0-9_-]+$/, "server names are letters, digits, _ and -");
const commandSchema = z.strictObject({
  /** `node` runs the executor's own Node (24), whatever is on PATH. */
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
});

const delayMs = z.number().int().positive();

/** How the executor treats one tool (or, as `defaults`, every tool of a server). */
export const toolSettingsSchema = z.strictObject({
  /** Per-call timeout; the step's own timeoutMs when unset. */
  timeoutMs: z.number().int().positive().max(3_600_000).optional(),
  /** Delays between attempts after a timeout or transport failure; rungs of the executor's retry ladder. */
  retryDelaysMs: z.array(delayMs).optional(),
  /** Calls in flight at once; more wait their turn. */
  concurrency: z.number().int().positive().optional(),
  /** Calls started per second at most. */
  ratePerSecond: z.number().positive().optional(),
  /** Opens after this many consecutive transient failures, tries one call again after halfOpenAfterMs. */
  breaker: z
    .strictObject({ failures: z.number().int().positive(), halfOpenAfterMs: z.number().int().positive() })
    .optional(),
  /** A tool (`<server>/<tool>`) to call instead while the breaker is open. */
  fallback: z
    .string()
    .regex(/^[A-Za-z0-9_-]+\/[A-Za-z0-9_.-]+$/, "tools are named <server>/<tool>")
    .optional(),
});

/** One tool's settings. */
export type ToolSettings = z.output<typeof toolSettingsSchema>;

/** Limits one server's tools share, on top of each tool's own. */
export const serverLimitsSchema = z.strictObject({
  /** Calls in flight at once across all the server's tools; more wait their turn. */
  concurrency: z.number().int().positive().optional(),
  /** Calls started per second at most across all the server's tools. */
  ratePerSecond: z.number().positive().optional(),
});

/** One server's shared limits. */
export type ServerLimits = z.output<typeof serverLimitsSchema>;

const settingsShape = {
  defaults: toolSettingsSchema.default({}),
  tools: z.record(z.string(), toolSettingsSchema).default({}),
  limits: serverLimitsSchema.default({}),
};

const serverSchema = z.discriminatedUnion("transport", [
  z.strictObject({ name: serverName, transport: z.literal("stdio"), ...commandSchema.shape, ...settingsShape }),
  z.strictObject({
    name: serverName,
    transport: z.literal("http"),
    url: z.url(),
    /** Started by the executor before it connects, when given. */
    start: commandSchema.optional(),
    ...settingsShape,
  }),
]);

/** The zod schema of the MCP servers file (config/mcp-servers.yaml). */
export const serversFileSchema = z.strictObject({
  servers: z.array(serverSchema).min(1),
});

/** One MCP server the executor connects to. */
export type ServerSpec = z.output<typeof serverSchema>;

/** Reads and validates the servers file, naming every problem; server names must be unique. */
export async function loadServers(file: string): Promise<ServerSpec[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new BatonError("CONFIG_INVALID", `cannot read MCP servers file ${file}: ${(error as Error).message}`);
  }
  const { servers } = parseDeclarativeFile(text, file, serversFileSchema);
  const names = servers.map((server) => server.name);
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate !== undefined) throw new BatonError("CONFIG_INVALID", `${file}: server ${duplicate} is declared twice`);
  const ladder = new Set(retryLadder("baton.allowed-calls"));
  const problems: string[] = [];
  for (const server of servers) {
    for (const [tool, settings] of [["defaults", server.defaults] as const, ...Object.entries(server.tools)]) {
      for (const delay of settings.retryDelaysMs ?? []) {
        if (!ladder.has(delay)) {
          problems.push(
            `servers.${server.name}.${tool}.retryDelaysMs: ${delay} is not a retry topic of baton.allowed-calls (${[...ladder].join(", ")})`,
          );
        }
      }
    }
  }
  if (problems.length > 0) throw new BatonError("CONFIG_INVALID", `${file}:\n  ${problems.join("\n  ")}`);
  return servers;
}

/** The settings of a qualified tool: its own over its server's defaults. */
export function settingsOf(servers: readonly ServerSpec[], tool: string): ToolSettings {
  const [serverName, toolName] = [tool.slice(0, tool.indexOf("/")), tool.slice(tool.indexOf("/") + 1)];
  const server = servers.find((candidate) => candidate.name === serverName);
  if (server === undefined) return {};
  return { ...server.defaults, ...(server.tools[toolName] ?? {}) };
}

/** The limits a qualified tool's server sets for all its tools together. */
export function serverLimitsOf(servers: readonly ServerSpec[], tool: string): ServerLimits {
  const server = servers.find((candidate) => candidate.name === tool.slice(0, tool.indexOf("/")));
  return server?.limits ?? {};
}
