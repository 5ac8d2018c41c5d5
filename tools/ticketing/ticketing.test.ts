import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  callTool,
  connectStdio,
  readJsonLines,
  resultText,
  runUntilExit,
  serverPath,
  temporaryDataDir,
  type Connection,
} from "../common/testing.ts";

let dataDir: { path: string; remove: () => Promise<void> };
const connections: Connection[] = [];

async function connect(extra: Record<string, string> = {}): Promise<Connection> {
  const connection = await connectStdio(serverPath("ticketing"), { BATON_TOOLS_DATA_DIR: dataDir.path, ...extra });
  connections.push(connection);
  return connection;
}

beforeEach(async () => {
  dataDir = await temporaryDataDir();
});

afterEach(async () => {
  await Promise.all(connections.splice(0).map((connection) => connection.close()));
  await dataDir.remove();
});

const ticket = {
  subject: "Order 1234 arrived damaged",
  body: "The customer asks for a refund.",
  customer: "ann@example.com",
};

describe("ticketing server", () => {
  it("lists create_ticket, get_ticket and issue_refund, each with an input schema", async () => {
    const { client } = await connect();
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(["create_ticket", "get_ticket", "issue_refund"]);
    for (const tool of tools) {
      expect(tool.inputSchema.type).toBe("object");
      expect(tool.inputSchema.required?.length).toBeGreaterThan(0);
      expect(tool.outputSchema?.type).toBe("object");
    }
  });

  it("gives two tickets increasing ids, writes them to tickets.jsonl, and keeps counting after a restart", async () => {
    const first = await connect();
    const one = await callTool(first.client, "create_ticket", ticket);
    const two = await callTool(first.client, "create_ticket", { ...ticket, priority: "high" });
    expect(one.structuredContent).toEqual({ ticketId: "TCK-000001", status: "open", priority: "normal" });
    expect(two.structuredContent).toEqual({ ticketId: "TCK-000002", status: "open", priority: "high" });
    expect(await readJsonLines(join(dataDir.path, "tickets.jsonl"))).toMatchObject([
      { ticketId: "TCK-000001", subject: ticket.subject, customer: ticket.customer },
      { ticketId: "TCK-000002", priority: "high" },
    ]);
    await first.close();

    const second = await connect();
    const three = await callTool(second.client, "create_ticket", ticket);
    expect(three.structuredContent).toMatchObject({ ticketId: "TCK-000003" });
    const stored = await callTool(second.client, "get_ticket", { ticketId: "TCK-000001" });
    expect(stored.structuredContent).toMatchObject({ ticketId: "TCK-000001", ...ticket, status: "open" });
  });

  it("never gives the same id twice when two servers share a data directory", async () => {
    const [left, right] = await Promise.all([connect(), connect()]);
    const calls = [left, right].flatMap(({ client }) =>
      Array.from({ length: 8 }, () => callTool(client, "create_ticket", ticket)),
    );
    const ids = (await Promise.all(calls)).map((result) => (result.structuredContent as { ticketId: string }).ticketId);
    expect(new Set(ids).size).toBe(16);
    expect(await readJsonLines(join(dataDir.path, "tickets.jsonl"))).toHaveLength(16);
  });

  it("answers get_ticket for an unknown id with a tool error", async () => {
    const { client } = await connect();
    const result = await callTool(client, "get_ticket", { ticketId: "TCK-999999" });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(/TCK-999999/);
  });

  it("issues a refund in EUR by default and records it in refunds.jsonl", async () => {
    const { client } = await connect();
    const result = await callTool(client, "issue_refund", { orderId: "1234", amount: 49.9 });
    expect(result.structuredContent).toEqual({
      refundId: "RFD-000001",
      orderId: "1234",
      amount: 49.9,
      currency: "EUR",
      status: "issued",
    });
    expect(await readJsonLines(join(dataDir.path, "refunds.jsonl"))).toMatchObject([{ refundId: "RFD-000001" }]);
  });

  it("refuses a refund of zero as a tool error and records nothing", async () => {
    const { client } = await connect();
    const result = await callTool(client, "issue_refund", { orderId: "1234", amount: 0 });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(/amount/);
    expect(await readJsonLines(join(dataDir.path, "refunds.jsonl"))).toEqual([]);
  });
});

describe("ticketing fault injection", () => {
  it("with error=1 every call is a tool error and nothing is written", async () => {
    const { client } = await connect({ BATON_TOOLS_FAULTS: "error=1" });
    const results = [
      await callTool(client, "create_ticket", ticket),
      await callTool(client, "get_ticket", { ticketId: "TCK-000001" }),
      await callTool(client, "issue_refund", { orderId: "1234", amount: 10 }),
    ];
    for (const result of results) {
      expect(result.isError).toBe(true);
      expect(resultText(result)).toMatch(/injected fault/);
    }
    expect(await readJsonLines(join(dataDir.path, "tickets.jsonl"))).toEqual([]);
  });

  it("with crash=1 the process exits on the first call before writing anything", async () => {
    const { client } = await connect({ BATON_TOOLS_FAULTS: "crash=1" });
    await expect(callTool(client, "create_ticket", ticket)).rejects.toThrow();
    expect(await readJsonLines(join(dataDir.path, "tickets.jsonl"))).toEqual([]);
  });

  it("a bad fault setting stops the server at start, naming every bad key", async () => {
    const { code, stderr } = await runUntilExit(serverPath("ticketing"), {
      BATON_TOOLS_FAULTS: "error=2,explode=1",
      BATON_LOG_LEVEL: "loud",
    });
    expect(code).toBe(1);
    const line = JSON.parse(stderr.trim()) as { msg: string; keys: string[]; problems: string[] };
    expect(line.msg).toBe("invalid configuration");
    expect(line.keys.sort()).toEqual(["BATON_LOG_LEVEL", "BATON_TOOLS_FAULTS"]);
    expect(line.problems.join("\n")).toMatch(/error=2[\s\S]*explode=1/);
  });
});
