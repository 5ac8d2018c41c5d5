import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it, expect } from "vitest";
import { fromRoot } from "../../shared/paths.ts";
import { loadServers, settingsOf } from "./servers-file.ts";

describe("loadServers", () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), "baton-servers-"));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  async function file(text: string): Promise<string> {
    const path = join(directory, "mcp-servers.yaml");
    await writeFile(path, text);
    return path;
  }

  it("the shipped config/mcp-servers.yaml is valid: two stdio servers and one http server", async () => {
    const servers = await loadServers(fromRoot("config", "mcp-servers.yaml"));
    expect(servers.map((server) => [server.name, server.transport])).toEqual([
      ["knowledge-base", "stdio"],
      ["ticketing", "stdio"],
      ["outbox", "http"],
    ]);
  });

  it("fills defaults for a stdio server: no arguments, no extra environment, no tool settings", async () => {
    const servers = await loadServers(await file("servers:\n  - { name: kb, transport: stdio, command: node }\n"));
    expect(servers).toEqual([
      { name: "kb", transport: "stdio", command: "node", args: [], env: {}, defaults: {}, tools: {}, limits: {} },
    ]);
  });

  it("per-tool settings override the server's defaults, and a retry delay that has no retry topic is named", async () => {
    const servers = await loadServers(
      await file(
        [
          "servers:",
          "  - name: mail",
          "    transport: stdio",
          "    command: node",
          "    defaults: { timeoutMs: 5000, concurrency: 4 }",
          "    tools:",
          "      send_email: { concurrency: 1, retryDelaysMs: [1000, 10000], breaker: { failures: 3, halfOpenAfterMs: 30000 } }",
          "",
        ].join("\n"),
      ),
    );
    expect(settingsOf(servers, "mail/send_email")).toEqual({
      timeoutMs: 5000,
      concurrency: 1,
      retryDelaysMs: [1000, 10000],
      breaker: { failures: 3, halfOpenAfterMs: 30000 },
    });
    expect(settingsOf(servers, "mail/list_sent")).toEqual({ timeoutMs: 5000, concurrency: 4 });
    const bad = await file(
      "servers:\n  - { name: kb, transport: stdio, command: node, tools: { search: { retryDelaysMs: [2500] } } }\n",
    );
    await expect(loadServers(bad)).rejects.toThrow(
      /servers\.kb\.search\.retryDelaysMs: 2500 is not a retry topic of baton\.allowed-calls/,
    );
  });

  it("names a server declared twice", async () => {
    const path = await file(
      [
        "servers:",
        "  - { name: kb, transport: stdio, command: node }",
        "  - { name: kb, transport: http, url: 'http://127.0.0.1:9000/mcp' }",
        "",
      ].join("\n"),
    );
    const failure = loadServers(path);
    await expect(failure).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    await expect(failure).rejects.toThrow(`${path}: server kb is declared twice`);
  });

  it("names a server with a transport it does not know", async () => {
    const path = await file("servers:\n  - { name: kb, transport: carrier-pigeon, command: node }\n");
    const failure = loadServers(path);
    await expect(failure).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    await expect(failure).rejects.toThrow(path);
    await expect(failure).rejects.toThrow("servers.0.transport");
  });

  it("names every problem: a bad name, an http server without a valid url, a stdio server without a command", async () => {
    const path = await file(
      [
        "servers:",
        "  - { name: 'bad name', transport: stdio, command: node }",
        "  - { name: web, transport: http, url: not-a-url }",
        "  - { name: local, transport: stdio }",
        "",
      ].join("\n"),
    );
    const message = await loadServers(path).catch((error: unknown) => (error as Error).message);
    expect(message).toContain("servers.0.name: server names are letters, digits, _ and -");
    expect(message).toContain("servers.1.url");
    expect(message).toContain("servers.2.command");
  });

  it("refuses a file with no servers", async () => {
    await expect(loadServers(await file("servers: []\n"))).rejects.toThrow("servers");
  });

  it("names a file that cannot be read", async () => {
    const missing = join(directory, "missing.yaml");
    await expect(loadServers(missing)).rejects.toThrow(`cannot read MCP servers file ${missing}`);
  });
});
