import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { createBackbone, type Backbone } from "../../shared/backbone.ts";
import { parseConfig } from "../../shared/config.ts";
import { EventFeed } from "../../shared/kafka/event-feed.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import { mcpConfigSchema } from "../../services/gateway/mcp/config.ts";
import { createMcpHttpHandler, type McpHttpHandler } from "../../services/gateway/mcp/http.ts";
import { KafkaMcpBackend } from "../../services/gateway/mcp/kafka-backend.ts";
import { TestPipeline } from "./pipeline.ts";

// Baton as an MCP server against the real stack and real stages: the official SDK's client over stdio (spawning
// `baton mcp`) and over Streamable HTTP (the gateway's handler on a plain node:http server). Run under the stack lock.
const root = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);
const demoToken = "demo-mcp-e2e-token";
const trialToken = "trial-mcp-e2e-token";

let pipeline: TestPipeline;
let backend: KafkaMcpBackend;
let gatewayBackbone: Backbone;
let gatewayProducer: BatonProducer;
let gatewayFeed: EventFeed;
let handler: McpHttpHandler;
let http: HttpServer;
let mcpUrl: URL;
const clients: Client[] = [];
let stdioLog = "";

beforeAll(async () => {
  pipeline = await TestPipeline.start({
    workflowsDirs: [],
    policyFile: "test/e2e/mcp/policy.yaml",
    serversFile: "test/e2e/mcp/mcp-servers.yaml",
  });
  const config = parseConfig(mcpConfigSchema, { ...pipeline.env, BATON_LOG_LEVEL: "warn" });
  // As the gateway mounts it: on the gateway's own backbone, producer and event feed.
  gatewayBackbone = createBackbone("baton-e2e-gateway", config, createLogger({ service: "baton-e2e", level: "warn" }));
  const { kafka, codec, tracing } = gatewayBackbone;
  gatewayProducer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
  gatewayFeed = new EventFeed({ kafka, codec });
  await gatewayFeed.start();
  backend = await KafkaMcpBackend.start(config, {
    service: "baton-e2e-gateway",
    shared: { backbone: gatewayBackbone, producer: gatewayProducer, feed: gatewayFeed },
  });
  handler = createMcpHttpHandler(backend, { waitMs: 60_000 });
  http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      handler.handleMcpHttpRequest(req, res, text === "" ? undefined : JSON.parse(text)).catch((error: unknown) => {
        res.writeHead(500).end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  mcpUrl = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
}, 240_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((client) => client.close()));
  await handler?.close();
  if (http !== undefined) await new Promise((resolve) => http.close(resolve));
  await backend?.close();
  await gatewayFeed?.stop();
  await gatewayProducer?.disconnect();
  await gatewayBackbone?.tracing.shutdown();
  const stopped = pipeline === undefined ? [] : await pipeline.stop();
  expect(stopped.filter((stage) => stage.code !== 0)).toEqual([]);
}, 60_000);

/** `baton mcp` spawned by the SDK's stdio client, as an MCP host would, with the tenant's token. */
async function stdioClient(token: string): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(root, "cli/main.ts"), "mcp"],
    cwd: root,
    env: { ...(process.env as Record<string, string>), ...pipeline.env, BATON_MCP_TOKEN: token },
    stderr: "pipe",
  });
  transport.stderr?.on("data", (chunk: Buffer) => (stdioLog += chunk.toString()));
  const client = new Client({ name: "baton-e2e-stdio", version: "1.0.0" });
  await client.connect(transport);
  clients.push(client);
  return client;
}

async function httpClient(token: string): Promise<Client> {
  const client = new Client({ name: "baton-e2e-http", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(mcpUrl, { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
  );
  clients.push(client);
  return client;
}

type ToolResult = Awaited<ReturnType<Client["callTool"]>>;

function textOf(result: ToolResult): string {
  return (result.content as Array<{ type: string; text?: string }>).map((part) => part.text ?? "").join("\n");
}

async function tickets(subject: string): Promise<Array<{ ticketId: string; subject: string }>> {
  const text = await readFile(join(pipeline.toolsDataDir, "tickets.jsonl"), "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as { ticketId: string; subject: string })
    .filter((ticket) => ticket.subject === subject);
}

async function refunds(orderId: string): Promise<unknown[]> {
  const text = await readFile(join(pipeline.toolsDataDir, "refunds.jsonl"), "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as { orderId: string })
    .filter((refund) => refund.orderId === orderId);
}

/**
 * Calls a slow tool with a client timeout shorter than the call, then again as a client retrying would: the same
 * tool and arguments in the same session, a new JSON-RPC request. The tool must run once.
 */
async function retryAfterTimeout(client: Client): Promise<void> {
  const subject = `MCP retry ${randomUUID()}`;
  const call = { name: "slow-ticketing.create_ticket", arguments: { subject, body: "The parcel arrived broken" } };
  const timedOut = await client.callTool(call, undefined, { timeout: 1_000 }).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(timedOut).toBeInstanceOf(McpError);
  expect((timedOut as McpError).code).toBe(ErrorCode.RequestTimeout);
  const retried = await client.callTool(call, undefined, { timeout: 60_000 });
  expect(retried.isError).toBeUndefined();
  const ticketId = (retried.structuredContent as { ticketId?: string } | undefined)?.ticketId;
  expect(ticketId).toMatch(/^TCK-\d+$/);
  // Well past the slow tool's 3 s: a second run would have opened a second ticket by now.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  expect((await tickets(subject)).map((ticket) => ticket.ticketId)).toEqual([ticketId]);
}

describe("Baton as an MCP server over stdio (baton mcp)", () => {
  it("lists its own tools and, as <server>.<tool>, the catalogue tools the token's tenant may call", async () => {
    const demo = await stdioClient(demoToken);
    const names = (await demo.listTools()).tools.map((tool) => tool.name);
    expect(names.slice(0, 3)).toEqual(["run_workflow", "get_request", "list_approvals"]);
    expect(names).toEqual(
      expect.arrayContaining(["knowledge-base.search", "ticketing.create_ticket", "slow-ticketing.create_ticket"]),
    );
    const trial = await stdioClient(trialToken);
    const trialNames = (await trial.listTools()).tools.map((tool) => tool.name);
    expect(trialNames).toContain("knowledge-base.search");
    expect(trialNames.filter((name) => name.startsWith("ticketing."))).toEqual([]);
    const runWorkflow = (await demo.listTools()).tools.find((tool) => tool.name === "run_workflow");
    const workflowProperty = (runWorkflow?.inputSchema.properties as Record<string, { enum?: string[] }>).workflow;
    expect(workflowProperty?.enum).toEqual(["customer-support", "refund"]);
  }, 60_000);

  it("run_workflow runs a workflow to its answer, reporting progress, and get_request shows its steps", async () => {
    const client = await stdioClient(demoToken);
    const progress: Array<{ progress: number; message?: string | undefined }> = [];
    const result = await client.callTool(
      { name: "run_workflow", arguments: { workflow: "customer-support", input: "How long does shipping take?" } },
      undefined,
      { timeout: 60_000, onprogress: (notification) => progress.push(notification) },
    );
    expect(result.isError).toBeUndefined();
    const structured = result.structuredContent as { requestId: string; status: string; answer: string };
    expect(structured.status).toBe("ANSWERED");
    expect(structured.answer.toLowerCase()).toContain("business days");
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]?.message).toContain(structured.requestId);
    const status = await client.callTool({ name: "get_request", arguments: { requestId: structured.requestId } });
    expect(status.structuredContent).toMatchObject({
      requestId: structured.requestId,
      status: "ANSWERED",
      workflow: "customer-support",
    });
    const steps = (status.structuredContent as { steps: Array<{ stepId: string; status: string }> }).steps;
    expect(steps.find((step) => step.stepId === "search")?.status).toBe("SUCCEEDED");
  }, 90_000);

  it("a gateway tool call runs the tool through the pipeline once and answers with its output", async () => {
    const client = await stdioClient(demoToken);
    const subject = `MCP ticket ${randomUUID()}`;
    const result = await client.callTool(
      { name: "ticketing.create_ticket", arguments: { subject, body: "Please call me back", priority: "low" } },
      undefined,
      { timeout: 60_000 },
    );
    expect(result.isError).toBeUndefined();
    const ticket = result.structuredContent as { ticketId: string; priority: string };
    expect(ticket.priority).toBe("low");
    expect((await tickets(subject)).map((stored) => stored.ticketId)).toEqual([ticket.ticketId]);
  }, 90_000);

  it("a call policy denies is a tool error naming the rule, and the tool never runs", async () => {
    const demo = await stdioClient(demoToken);
    const orderId = `mcp-${randomUUID()}`;
    const denied = await demo.callTool(
      { name: "ticketing.issue_refund", arguments: { orderId, amount: 500 } },
      undefined,
      { timeout: 60_000 },
    );
    expect(denied.isError).toBe(true);
    expect(textOf(denied)).toContain("denied by policy rule refund-limit");
    expect(await refunds(orderId)).toEqual([]);
    // A tool the tenant is not offered, called anyway, is denied by policy too (and audited there).
    const trial = await stdioClient(trialToken);
    const subject = `MCP trial ${randomUUID()}`;
    const notAllowed = await trial.callTool(
      { name: "ticketing.create_ticket", arguments: { subject, body: "x" } },
      undefined,
      { timeout: 60_000 },
    );
    expect(notAllowed.isError).toBe(true);
    expect(textOf(notAllowed)).toContain("denied by policy rule tool-not-allowed");
    expect(await tickets(subject)).toEqual([]);
  }, 90_000);

  it("a gateway call retried after a client timeout runs the tool once", async () => {
    await retryAfterTimeout(await stdioClient(demoToken));
  }, 90_000);

  it("a call waiting for a person shows in list_approvals; once rejected, the call again answers with the rejection", async () => {
    const demo = await stdioClient(demoToken);
    const orderId = `mcp-${randomUUID()}`;
    const call = { name: "ticketing.issue_refund", arguments: { orderId, amount: 70 } };
    const progress: string[] = [];
    const waited = await demo
      .callTool(call, undefined, { timeout: 5_000, onprogress: (note) => progress.push(note.message ?? "") })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect((waited as McpError).code).toBe(ErrorCode.RequestTimeout);
    expect(progress.some((message) => message.includes("waiting for approval call (ticketing/issue_refund)"))).toBe(
      true,
    );
    const listed = await demo.callTool({ name: "list_approvals", arguments: {} });
    const approvals = (listed.structuredContent as { approvals: Array<Record<string, string>> }).approvals;
    const waiting = approvals.find((approval) => approval.arguments?.includes(orderId) === true);
    expect(waiting).toMatchObject({
      stepId: "call",
      tool: "ticketing/issue_refund",
      ruleId: "large-refunds-need-approval",
    });
    const trial = await stdioClient(trialToken);
    const trialListed = await trial.callTool({ name: "list_approvals", arguments: {} });
    expect(JSON.stringify(trialListed.structuredContent)).not.toContain(orderId);
    await run(process.execPath, [join(root, "cli/main.ts"), "reject", waiting?.requestId ?? "", "call"], {
      cwd: root,
      env: { ...process.env, ...pipeline.env },
    });
    const answered = await demo.callTool(call, undefined, { timeout: 60_000 });
    expect(answered.isError).toBe(true);
    expect(textOf(answered)).toContain("rejected by");
    expect(await refunds(orderId)).toEqual([]);
  }, 90_000);
});

describe("Baton as an MCP server over Streamable HTTP", () => {
  it("refuses a connection without a token the policy file lists", async () => {
    const client = new Client({ name: "baton-e2e-anonymous", version: "1.0.0" });
    await expect(client.connect(new StreamableHTTPClientTransport(mcpUrl))).rejects.toThrow(/401|bearer token/);
    const wrong = new Client({ name: "baton-e2e-wrong", version: "1.0.0" });
    await expect(
      wrong.connect(
        new StreamableHTTPClientTransport(mcpUrl, { requestInit: { headers: { authorization: "Bearer guess" } } }),
      ),
    ).rejects.toThrow(/401|not one the policy file lists/);
  });

  it("lists tools, runs run_workflow to an answer and calls a gateway tool", async () => {
    const client = await httpClient(demoToken);
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(["run_workflow", "knowledge-base.search", "ticketing.create_ticket"]));
    const answered = await client.callTool(
      { name: "run_workflow", arguments: { workflow: "customer-support", input: "How do I reset my password?" } },
      undefined,
      { timeout: 60_000 },
    );
    expect(answered.isError).toBeUndefined();
    expect((answered.structuredContent as { status: string }).status).toBe("ANSWERED");
    const search = await client.callTool(
      { name: "knowledge-base.search", arguments: { query: "shipping times", limit: 1 } },
      undefined,
      { timeout: 60_000 },
    );
    expect(search.isError).toBeUndefined();
    expect((search.structuredContent as { found: boolean }).found).toBe(true);
  }, 90_000);

  it("a long gateway call reports its progress from baton.events", async () => {
    const client = await httpClient(demoToken);
    const progress: string[] = [];
    const result = await client.callTool(
      {
        name: "slow-ticketing.create_ticket",
        arguments: { subject: `MCP progress ${randomUUID()}`, body: "Where is my parcel?" },
      },
      undefined,
      { timeout: 60_000, onprogress: (note) => progress.push(note.message ?? "") },
    );
    expect(result.isError).toBeUndefined();
    const steps = progress.map((message) => message.replace(/^mcp-[0-9a-f]{32}: /, ""));
    expect(steps[0]).toBe("submitted");
    expect(steps).toEqual(
      expect.arrayContaining([
        "planned call (slow-ticketing/create_ticket)",
        "allowed call (slow-ticketing/create_ticket)",
      ]),
    );
  }, 90_000);

  it("a gateway call retried after a client timeout runs the tool once", async () => {
    await retryAfterTimeout(await httpClient(demoToken));
  }, 90_000);
});

afterAll(() => {
  if (stdioLog.includes('"level":50')) console.error(`baton mcp logged errors:\n${stdioLog.slice(-3000)}`);
});
