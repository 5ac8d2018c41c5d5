import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  callTool,
  connectHttp,
  readJsonLines,
  resultText,
  startHttpServer,
  serverPath,
  temporaryDataDir,
  type HttpServerProcess,
} from "../common/testing.ts";

let dataDir: { path: string; remove: () => Promise<void> };
let server: HttpServerProcess | undefined;
let client: Client | undefined;

async function start(extra: Record<string, string> = {}): Promise<Client> {
  server = await startHttpServer(serverPath("outbox"), "OUTBOX_PORT", { BATON_TOOLS_DATA_DIR: dataDir.path, ...extra });
  client = await connectHttp(`${server.baseUrl}/mcp`);
  return client;
}

beforeEach(async () => {
  dataDir = await temporaryDataDir();
});

afterEach(async () => {
  await client?.close();
  await server?.stop();
  [client, server] = [undefined, undefined];
  await dataDir.remove();
});

const email = { to: "ann@example.com", subject: "Your refund for order 1234", body: "We are sorry…" };

describe("outbox server", () => {
  it("answers GET /healthz with 200 and logs one listening line with the MCP URL", async () => {
    await start();
    const response = await fetch(`${server!.baseUrl}/healthz`);
    expect(response.status).toBe(200);
    const listening = server!
      .stderr()
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as { msg: string; url?: string })
      .filter((line) => line.msg === "listening");
    expect(listening).toEqual([expect.objectContaining({ url: `${server!.baseUrl}/mcp` })]);
  });

  it("lists send_email and list_sent over Streamable HTTP, each with an input schema", async () => {
    const { tools } = await (await start()).listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(["list_sent", "send_email"]);
    const sendEmail = tools.find((tool) => tool.name === "send_email");
    expect(sendEmail?.inputSchema).toMatchObject({
      type: "object",
      properties: { to: { type: "string", format: "email" } },
      required: ["to", "subject", "body"],
    });
  });

  it("records two lines in outbox.jsonl when send_email is called twice with the same idempotencyKey", async () => {
    const mcp = await start();
    const first = await callTool(mcp, "send_email", { ...email, idempotencyKey: "request-1:email" });
    const second = await callTool(mcp, "send_email", { ...email, idempotencyKey: "request-1:email" });
    expect(first.structuredContent?.to).toBe(email.to);
    expect(first.structuredContent?.messageId).toMatch(/^MSG-/);
    expect(second.structuredContent?.messageId).not.toBe(first.structuredContent?.messageId);
    const lines = await readJsonLines(join(dataDir.path, "outbox.jsonl"));
    expect(lines).toHaveLength(2);
    expect(lines).toEqual([
      expect.objectContaining({ ...email, idempotencyKey: "request-1:email" }),
      expect.objectContaining({ ...email, idempotencyKey: "request-1:email" }),
    ]);
  });

  it("lists what was sent, filtered by recipient regardless of case", async () => {
    const mcp = await start();
    await callTool(mcp, "send_email", email);
    await callTool(mcp, "send_email", { ...email, to: "bob@example.com" });
    const result = await callTool(mcp, "list_sent", { to: "ANN@example.com" });
    expect(result.structuredContent).toEqual({ messages: [expect.objectContaining(email)] });
  });

  it("rejects an invalid email address as a tool error and sends nothing", async () => {
    const mcp = await start();
    const result = await callTool(mcp, "send_email", { ...email, to: "not-an-address" });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(/email/i);
    expect(await readJsonLines(join(dataDir.path, "outbox.jsonl"))).toEqual([]);
  });

  it("refuses an address in the .invalid domain as undeliverable", async () => {
    const result = await callTool(await start(), "send_email", { ...email, to: "bob@shop.invalid" });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(/undeliverable/);
  });

  it("with error=1 every call is a tool error and nothing is sent", async () => {
    const mcp = await start({ BATON_TOOLS_FAULTS: "error=1,delay=5" });
    const results = [await callTool(mcp, "send_email", email), await callTool(mcp, "list_sent", {})];
    for (const result of results) {
      expect(result.isError).toBe(true);
      expect(resultText(result)).toMatch(/injected fault/);
    }
    expect(await readJsonLines(join(dataDir.path, "outbox.jsonl"))).toEqual([]);
  });

  it("exits 0 on SIGTERM", async () => {
    await start();
    await client!.close();
    client = undefined;
    expect(await server!.stop()).toBe(0);
  });
});
