import { describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { parsePolicy } from "../../../shared/policy-file.ts";
import type { ApprovalRequest, Event, Request, Response, RunState } from "../../../shared/schemas/records.ts";
import { parseWorkflow } from "../../planner/workflow-file.ts";
import type { McpBackend, RequestRecord, SubmitContext } from "./backend.ts";
import { idempotencyMetaKey } from "./call-identity.ts";
import { createMcpServer } from "./server.ts";

const policy = parsePolicy(
  `
tenants:
  demo:
    tools: { allow: ["knowledge-base/*", "ticketing/create_ticket"] }
  other:
    tools: { allow: [] }
`,
  "policy.yaml",
);

const workflow = parseWorkflow(
  `
name: lookup
steps:
  - { id: search, tool: knowledge-base/search, arguments: { query: "{{ request.input }}" } }
`,
  "lookup.yaml",
);

const objectSchema = JSON.stringify({ type: "object", properties: { query: { type: "string" } } });

/** A backend in memory: answers each submitted request with what `answer` makes of it. */
class FakeBackend implements McpBackend {
  readonly policy = policy;
  readonly workflows = new Map([[workflow.name, workflow]]);
  readonly submitted: Request[] = [];
  readonly runs = new Map<string, RunState>();
  readonly responses = new Map<string, Response>();
  answer: (request: Request) => Response | undefined = (request) => ({
    requestId: request.requestId,
    status: "ANSWERED",
    answer: '{"found":true}',
    steps: [],
    error: null,
    completedAt: 1,
  });

  tools() {
    return [
      { name: "knowledge-base/search", description: "search", inputSchema: objectSchema },
      { name: "ticketing/create_ticket", description: "ticket", inputSchema: objectSchema },
      { name: "ticketing/issue_refund", description: "refund", inputSchema: objectSchema },
    ];
  }
  onToolsChanged() {
    return () => undefined;
  }
  readonly traceContexts: Array<Record<string, string> | undefined> = [];
  submit(request: Request, call: SubmitContext): Promise<void> {
    this.submitted.push(request);
    this.traceContexts.push(call.traceContext);
    this.runs.set(request.requestId, {
      requestId: request.requestId,
      tenant: request.tenant,
      input: request.input,
      workflow: request.workflow,
      metadata: request.metadata,
      submittedAt: request.submittedAt,
      status: "RUNNING",
      answerTemplate: null,
      steps: [],
      updatedAt: 1,
      deadlineAt: null,
    });
    return Promise.resolve();
  }
  knownResponse(requestId: string) {
    return this.responses.get(requestId);
  }
  async waitForResponse(requestId: string) {
    const request = this.submitted.find((candidate) => candidate.requestId === requestId);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const response = request === undefined ? undefined : this.answer(request);
    if (response !== undefined) this.responses.set(requestId, response);
    return response;
  }
  async *events(requestId: string): AsyncGenerator<Event> {
    const event = (type: Event["type"], stepId: string | null, status: string | null): Event => ({
      requestId,
      type,
      stepId,
      tool: stepId === null ? null : "knowledge-base/search",
      status,
      attempt: null,
      detail: null,
      text: null,
      sequence: null,
      response: null,
      at: 1,
    });
    yield event("PLANNED", "search", null);
    yield event("STARTED", "search", null);
    yield event("FINISHED", "search", "SUCCEEDED");
    yield event("RESPONSE", null, "ANSWERED");
    await Promise.resolve();
  }
  find(requestId: string): Promise<RequestRecord> {
    return Promise.resolve({ run: this.runs.get(requestId), response: this.responses.get(requestId) });
  }
  approvals(): Promise<ApprovalRequest[]> {
    return Promise.resolve([]);
  }
}

async function connect(backend: McpBackend, tenant = "demo", sessionId = "session-1"): Promise<Client> {
  const server = createMcpServer(backend, { tenant, sessionId, waitMs: 1_000 });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "test", version: "1.0.0" });
  await client.connect(clientSide);
  return client;
}

function textOf(result: Awaited<ReturnType<Client["callTool"]>>): string {
  return (result.content as Array<{ text: string }>).map((part) => part.text).join("\n");
}

describe("the MCP server", () => {
  it("lists run_workflow with the workflows as an enum, and only the catalogue tools the tenant may call", async () => {
    const client = await connect(new FakeBackend());
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual([
      "run_workflow",
      "get_request",
      "list_approvals",
      "knowledge-base.search",
      "ticketing.create_ticket",
    ]);
    const runWorkflow = tools[0]?.inputSchema;
    expect((runWorkflow?.properties?.workflow as { enum?: string[] } | undefined)?.enum).toEqual(["lookup"]);
    expect(runWorkflow?.required).toEqual(["input"]);
  });

  it("a gateway tool call is a direct-call request through the pipeline, answered with the tool's output", async () => {
    const backend = new FakeBackend();
    const client = await connect(backend);
    const result = await client.callTool({ name: "knowledge-base.search", arguments: { query: "shipping" } });
    expect(backend.submitted).toHaveLength(1);
    expect(backend.submitted[0]).toMatchObject({
      tenant: "demo",
      workflow: "tool:knowledge-base/search",
      input: '{"query":"shipping"}',
    });
    expect(result.isError).toBeUndefined();
    expect(result.structuredContent).toEqual({ found: true });
  });

  it("a call whose _meta carries a traceparent is submitted in that trace", async () => {
    const backend = new FakeBackend();
    const client = await connect(backend);
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    await client.callTool({ name: "knowledge-base.search", arguments: { query: "x" }, _meta: { traceparent } });
    await client.callTool({ name: "knowledge-base.search", arguments: { query: "y" } });
    expect(backend.traceContexts).toEqual([{ traceparent }, undefined]);
  });

  it("a denied call is a tool error naming the rule", async () => {
    const backend = new FakeBackend();
    backend.answer = (request) => ({
      requestId: request.requestId,
      status: "REFUSED",
      answer: null,
      steps: [],
      error: "call (ticketing/issue_refund) DENIED: denied by policy rule tool-not-allowed: not allowed",
      completedAt: 1,
    });
    const client = await connect(backend);
    const result = await client.callTool({ name: "ticketing.issue_refund", arguments: { orderId: "1", amount: 5 } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain("denied by policy rule tool-not-allowed");
  });

  it("the same call again in a session is the same request, answered without a second submission", async () => {
    const backend = new FakeBackend();
    const client = await connect(backend);
    const call = { name: "ticketing.create_ticket", arguments: { subject: "s", body: "b" } };
    await client.callTool(call);
    await client.callTool(call);
    expect(backend.submitted).toHaveLength(1);
    const other = await connect(backend, "demo", "session-2");
    await other.callTool(call);
    expect(backend.submitted).toHaveLength(2);
    expect(backend.submitted[1]?.requestId).not.toBe(backend.submitted[0]?.requestId);
  });

  it("an idempotency key in _meta makes calls from different sessions one request", async () => {
    const backend = new FakeBackend();
    const call = { name: "ticketing.create_ticket", arguments: { subject: "s", body: "b" } };
    const first = await connect(backend, "demo", "session-1");
    const second = await connect(backend, "demo", "session-2");
    await first.callTool({ ...call, _meta: { [idempotencyMetaKey]: "order-7" } });
    await second.callTool({ ...call, _meta: { [idempotencyMetaKey]: "order-7" } });
    expect(backend.submitted).toHaveLength(1);
  });

  it("run_workflow checks its arguments and submits the named workflow with its metadata", async () => {
    const backend = new FakeBackend();
    const client = await connect(backend);
    await expect(
      client.callTool({ name: "run_workflow", arguments: { workflow: "nope", input: "x" } }),
    ).rejects.toThrow(/invalid arguments for run_workflow: workflow/);
    const result = await client.callTool({
      name: "run_workflow",
      arguments: { workflow: "lookup", input: "where is my parcel", metadata: { orderId: "7" } },
    });
    expect(backend.submitted[0]).toMatchObject({ workflow: "lookup", metadata: { orderId: "7" } });
    expect(textOf(result)).toContain(backend.submitted[0]?.requestId ?? "missing");
  });

  it("get_request shows a request of the connection's tenant, and another tenant's as unknown", async () => {
    const backend = new FakeBackend();
    const client = await connect(backend);
    await client.callTool({ name: "run_workflow", arguments: { input: "where is my parcel" } });
    const requestId = backend.submitted[0]?.requestId ?? "";
    const own = await client.callTool({ name: "get_request", arguments: { requestId } });
    expect(own.structuredContent).toMatchObject({ requestId, status: "ANSWERED" });
    const other = await connect(backend, "other");
    const foreign = await other.callTool({ name: "get_request", arguments: { requestId } });
    expect(foreign.isError).toBe(true);
    expect(textOf(foreign)).toContain(`no request ${requestId} for tenant other`);
  });

  it("reports progress to a client that sent a progress token", async () => {
    const backend = new FakeBackend();
    const client = await connect(backend);
    const progress: string[] = [];
    await client.callTool({ name: "run_workflow", arguments: { input: "where is my parcel" } }, undefined, {
      onprogress: (notification) => progress.push(notification.message ?? ""),
    });
    expect(progress[0]).toMatch(/^mcp-[0-9a-f]{32}: submitted$/);
    expect(progress.slice(1).map((message) => message.replace(/^mcp-[0-9a-f]{32}: /, ""))).toEqual([
      "planned search (knowledge-base/search)",
      "started search (knowledge-base/search)",
      "finished search (knowledge-base/search) SUCCEEDED",
    ]);
  });

  it("a run that outlasts the wait answers with its requestId to ask get_request about", async () => {
    const backend = new FakeBackend();
    backend.answer = () => undefined;
    const client = await connect(backend);
    const result = await client.callTool({ name: "run_workflow", arguments: { input: "slow" } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/is still running .* ask get_request/);
  });
});
