import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type ServerNotification,
  type ServerRequest,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import { z } from "zod";
import { toolPermitted } from "../../../shared/policy-file.ts";
import type { Event, Request, Response } from "../../../shared/schemas/records.ts";
import { directCallPrefix } from "../../planner/planner.ts";
import type { McpBackend } from "./backend.ts";
import { idempotencyMetaKey, requestIdOf } from "./call-identity.ts";
import { batonToolName, mcpToolName } from "./tool-names.ts";

/** Who is on the other end of one MCP connection, and how long its calls wait. */
export interface McpConnection {
  tenant: string;
  /** The MCP session: Streamable HTTP's Mcp-Session-Id, or one per `baton mcp` process. */
  sessionId: string;
  /** How long a tool call waits for its run's response before answering with the requestId. */
  waitMs: number;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const runWorkflowArguments = (workflows: string[]) =>
  z.strictObject({
    workflow: z
      .enum(workflows as [string, ...string[]])
      .optional()
      .describe("The workflow to run; without one, Baton picks it from the input"),
    input: z.string().min(1).max(100_000).describe("What the user asks"),
    metadata: z
      .record(z.string(), z.string())
      .default({})
      .describe("Context for the workflow, e.g. customerEmail, orderId, amount"),
  });

const getRequestArguments = z.strictObject({
  requestId: z.string().min(1).max(200).describe("The requestId a tool call answered with"),
});

const listApprovalsArguments = z.strictObject({});

/** Progress events are read from a little before the request is submitted (clocks of producers differ). */
const progressLookBackMs = 5_000;

function inputSchemaOf(schema: z.ZodType): Tool["inputSchema"] {
  const { $schema: _ignored, ...json } = z.toJSONSchema(schema, { io: "input" }) as Record<string, unknown>;
  return { ...json, type: "object" };
}

/** A catalogue tool's JSON Schema as MCP lists it; one that does not parse as an object schema takes any object. */
function catalogueSchema(text: string): Tool["inputSchema"] {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed !== null && typeof parsed === "object" && (parsed as { type?: unknown }).type === "object")
      return parsed as Tool["inputSchema"];
  } catch {
    // falls through to any object
  }
  return { type: "object" };
}

function invalidArguments(tool: string, error: z.ZodError): McpError {
  const problems = error.issues.map((issue) => `${issue.path.join(".") || "(arguments)"}: ${issue.message}`);
  return new McpError(ErrorCode.InvalidParams, `invalid arguments for ${tool}: ${problems.join("; ")}`);
}

function text(value: string): CallToolResult["content"][number] {
  return { type: "text", text: value };
}

/** A finished request as a tool result: an error unless it was answered, its reason naming any rule that refused. */
function responseResult(response: Response, direct: boolean): CallToolResult {
  const answered = response.status === "ANSWERED";
  const structured = {
    requestId: response.requestId,
    status: response.status,
    answer: response.answer,
    error: response.error,
    steps: response.steps,
  };
  if (direct && answered && response.answer !== null) {
    // A direct call's answer is the tool's output as JSON (after the answer rules, which may redact or add text).
    let output: unknown;
    try {
      output = JSON.parse(response.answer);
    } catch {
      output = undefined;
    }
    return {
      content: [text(response.answer)],
      ...(output !== null && typeof output === "object" && !Array.isArray(output)
        ? { structuredContent: output as Record<string, unknown> }
        : {}),
      _meta: { "baton/request-id": response.requestId },
    };
  }
  const lines = answered
    ? [response.answer ?? "(no answer)"]
    : [
        `${response.status}: ${response.error ?? "no reason given"}`,
        ...(response.answer === null ? [] : [response.answer]),
      ];
  return {
    content: [text([...lines, `(request ${response.requestId})`].join("\n\n"))],
    structuredContent: structured,
    ...(answered ? {} : { isError: true }),
  };
}

function stillRunning(requestId: string, waitedMs: number): CallToolResult {
  return {
    content: [
      text(
        `Request ${requestId} is still running after ${Math.round(waitedMs / 1000)} s; ask get_request with this requestId for its outcome.`,
      ),
    ],
    structuredContent: { requestId, status: "RUNNING" },
    isError: true,
  };
}

/** One progress event as a line for the person watching: what happened to which step, and why. */
function describeEvent(event: Event): string {
  const step = event.stepId === null ? "" : ` ${event.stepId}`;
  const tool = event.tool === null ? "" : ` (${event.tool})`;
  const status = event.status === null ? "" : ` ${event.status}`;
  const attempt = event.attempt !== null && event.attempt > 1 ? ` attempt ${event.attempt}` : "";
  const detail = event.detail === null ? "" : `: ${event.detail}`;
  return `${event.type.toLowerCase().replaceAll("_", " ")}${step}${tool}${status}${attempt}${detail}`;
}

/**
 * Baton as an MCP server for one connection's tenant: `run_workflow`, `get_request`, `list_approvals`, and each
 * catalogue tool the tenant may call as `<server>.<tool>`. Every call that runs something is a request through the
 * pipeline (planner, policy, executor, summarizer, policy), never a direct call of the tool: retries, breakers,
 * limits, idempotency, audit and traces apply. Built on the SDK's low-level Server, since the gateway tools and their
 * JSON Schemas come from the catalogue at run time.
 */
export function createMcpServer(backend: McpBackend, connection: McpConnection): Server {
  const server = new Server(
    { name: "baton", version: "0.1.0" },
    {
      capabilities: { tools: { listChanged: true } },
      instructions:
        "Baton runs declared workflows and calls tools through its policy (allow lists, argument rules, approvals) " +
        "and its executor (retries, circuit breakers, rate limits, idempotency). run_workflow and the <server>.<tool> " +
        "tools wait for the outcome; the same call repeated in a session (or with the same _meta " +
        `"${idempotencyMetaKey}") is the same run.`,
    },
  );
  const workflowNames = [...backend.workflows.keys()].sort();
  const runWorkflowSchema = runWorkflowArguments(workflowNames);
  const tenant = backend.policy.tenants[connection.tenant];

  const fixedTools: Tool[] = [
    {
      name: "run_workflow",
      description: `Runs a declared workflow (${workflowNames.join(", ")}) for the input and waits for its answer.`,
      inputSchema: inputSchemaOf(runWorkflowSchema),
    },
    {
      name: "get_request",
      description: "A request's status, its steps so far and its response.",
      inputSchema: inputSchemaOf(getRequestArguments),
      annotations: { readOnlyHint: true },
    },
    {
      name: "list_approvals",
      description: "Tool calls of this tenant that wait for a person's approval.",
      inputSchema: inputSchemaOf(listApprovalsArguments),
      annotations: { readOnlyHint: true },
    },
  ];

  server.setRequestHandler(ListToolsRequestSchema, () => {
    const gatewayTools = backend
      .tools()
      .filter((tool) => tenant !== undefined && toolPermitted(tenant, tool.name))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((tool): Tool => ({
        name: mcpToolName(tool.name),
        description: tool.description,
        inputSchema: catalogueSchema(tool.inputSchema),
      }));
    return { tools: [...fixedTools, ...gatewayTools] };
  });
  const stopWatching = backend.onToolsChanged(() => {
    server.sendToolListChanged().catch(() => undefined);
  });
  server.onclose = stopWatching;

  /** Submits a request (unless it was answered already) and waits for its response, reporting progress. */
  const runRequest = async (request: Request, extra: Extra, tool: string, direct: boolean): Promise<CallToolResult> => {
    const known = backend.knownResponse(request.requestId);
    if (known !== undefined) return responseResult(known, direct);
    const since = Date.now() - progressLookBackMs;
    const meta = (extra._meta ?? {}) as Record<string, unknown>;
    const traceContext = Object.fromEntries(
      ["traceparent", "tracestate"].flatMap((key) => (typeof meta[key] === "string" ? [[key, meta[key]]] : [])),
    ) as Record<string, string>;
    await backend.submit(request, {
      tool,
      sessionId: connection.sessionId,
      traceContext: "traceparent" in traceContext ? traceContext : undefined,
    });
    const following = new AbortController();
    const stopFollowing = (): void => following.abort();
    extra.signal.addEventListener("abort", stopFollowing, { once: true });
    const progressToken = extra._meta?.progressToken;
    if (progressToken !== undefined) {
      const notify = (progress: number, message: string): Promise<void> =>
        extra.sendNotification({
          method: "notifications/progress",
          params: { progressToken, progress, message: `${request.requestId}: ${message}` },
        });
      void (async () => {
        await notify(0, "submitted");
        let progress = 0;
        for await (const event of backend.events(request.requestId, { since, signal: following.signal })) {
          // Partial answer text is not progress; the answer comes with the result.
          if (event.type === "PARTIAL_TEXT" || event.type === "RESPONSE") continue;
          progress += 1;
          await notify(progress, describeEvent(event));
        }
      })().catch(() => undefined);
    }
    const started = Date.now();
    try {
      const response = await backend.waitForResponse(request.requestId, {
        signal: extra.signal,
        timeoutMs: connection.waitMs,
      });
      return response === undefined
        ? stillRunning(request.requestId, Date.now() - started)
        : responseResult(response, direct);
    } finally {
      extra.signal.removeEventListener("abort", stopFollowing);
      following.abort();
    }
  };

  const idempotencyKeyOf = (extra: Extra): string | undefined => {
    const key = extra._meta?.[idempotencyMetaKey];
    return typeof key === "string" ? key : undefined;
  };

  server.setRequestHandler(CallToolRequestSchema, async (call, extra) => {
    const name = call.params.name;
    const args: unknown = call.params.arguments ?? {};
    const identity = {
      tenant: connection.tenant,
      tool: name,
      arguments: args,
      idempotencyKey: idempotencyKeyOf(extra),
      sessionId: connection.sessionId,
    };
    if (name === "run_workflow") {
      const parsed = runWorkflowSchema.safeParse(args);
      if (!parsed.success) throw invalidArguments(name, parsed.error);
      const request: Request = {
        requestId: requestIdOf(identity),
        tenant: connection.tenant,
        input: parsed.data.input,
        workflow: parsed.data.workflow ?? null,
        metadata: parsed.data.metadata,
        submittedAt: Date.now(),
      };
      return runRequest(request, extra, name, false);
    }
    if (name === "get_request") {
      const parsed = getRequestArguments.safeParse(args);
      if (!parsed.success) throw invalidArguments(name, parsed.error);
      const { run, response } = await backend.find(parsed.data.requestId);
      // Another tenant's request is as unknown as one that never was.
      if (run === undefined || run.tenant !== connection.tenant)
        return {
          content: [text(`no request ${parsed.data.requestId} for tenant ${connection.tenant}`)],
          isError: true,
        };
      const status = response?.status ?? "RUNNING";
      const steps = run.steps.map((step) => ({
        stepId: step.stepId,
        tool: step.tool,
        status: step.status,
        attempts: step.attempts,
        error: step.error,
      }));
      const lines = [
        `${run.requestId}: ${status} (workflow ${run.workflow ?? "none"})`,
        ...steps.map(
          (step) => `- ${step.stepId} (${step.tool}): ${step.status}${step.error === null ? "" : `, ${step.error}`}`,
        ),
        ...(response?.answer == null ? [] : ["", response.answer]),
        ...(response?.error == null ? [] : ["", `error: ${response.error}`]),
      ];
      return {
        content: [text(lines.join("\n"))],
        structuredContent: {
          requestId: run.requestId,
          status,
          workflow: run.workflow,
          steps,
          answer: response?.answer ?? null,
          error: response?.error ?? null,
        },
      };
    }
    if (name === "list_approvals") {
      const parsed = listApprovalsArguments.safeParse(args);
      if (!parsed.success) throw invalidArguments(name, parsed.error);
      const waiting = (await backend.approvals())
        .filter((approval) => approval.tenant === connection.tenant)
        .map((approval) => ({
          requestId: approval.requestId,
          stepId: approval.stepId,
          tool: approval.tool,
          arguments: approval.arguments,
          ruleId: approval.ruleId,
          reason: approval.reason,
          requestedAt: new Date(approval.requestedAt).toISOString(),
        }));
      const lines = waiting.map(
        (item) => `${item.requestId} ${item.stepId}: ${item.tool} ${item.arguments} (${item.ruleId}: ${item.reason})`,
      );
      return {
        content: [text(lines.length === 0 ? "no calls wait for approval" : lines.join("\n"))],
        structuredContent: { approvals: waiting },
      };
    }
    const tool = batonToolName(name);
    if (tool === undefined)
      throw new McpError(
        ErrorCode.InvalidParams,
        `unknown tool ${name}: Baton offers run_workflow, get_request, list_approvals and <server>.<tool>`,
      );
    if (args === null || typeof args !== "object" || Array.isArray(args))
      throw new McpError(ErrorCode.InvalidParams, `the arguments of ${name} are a JSON object`);
    // A tool the tenant may not call still goes to policy, which denies it by its rule and audits the attempt.
    const request: Request = {
      requestId: requestIdOf(identity),
      tenant: connection.tenant,
      input: JSON.stringify(args),
      workflow: `${directCallPrefix}${tool}`,
      metadata: { source: "mcp" },
      submittedAt: Date.now(),
    };
    return runRequest(request, extra, name, true);
  });
  return server;
}
