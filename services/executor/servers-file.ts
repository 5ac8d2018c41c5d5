import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";
import { BatonError } from "../../shared/errors.ts";

const serverName = z.string().regex(/^[A-Za-z0-9_-]+$/, "server names are letters, digits, _ and -");
const commandSchema = z.strictObject({
  /** `node` runs the executor's own Node (24), whatever is on PATH. */
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
});

const serverSchema = z.discriminatedUnion("transport", [
  z.strictObject({ name: serverName, transport: z.literal("stdio"), ...commandSchema.shape }),
  z.strictObject({
    name: serverName,
    transport: z.literal("http"),
    url: z.url(),
    /** Started by the executor before it connects, when given. */
    start: commandSchema.optional(),
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
  let raw: unknown;
  try {
    raw = parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new BatonError("CONFIG_INVALID", `cannot read MCP servers file ${file}: ${(error as Error).message}`);
  }
  const result = serversFileSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
    throw new BatonError("CONFIG_INVALID", `${file}:\n  ${problems.join("\n  ")}`);
  }
  const names = result.data.servers.map((server) => server.name);
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate !== undefined) throw new BatonError("CONFIG_INVALID", `${file}: server ${duplicate} is declared twice`);
  return result.data.servers;
}
