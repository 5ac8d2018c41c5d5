import type { Policy } from "../../../shared/policy-file.ts";
import type {
  ApprovalRequest,
  Event,
  Request,
  Response,
  RunState,
  ToolDescription,
} from "../../../shared/schemas/records.ts";
import type { Workflow } from "../../planner/workflow-file.ts";

/** A request as Baton knows it: its run (the planner's latest state) and its response, each if there is one yet. */
export interface RequestRecord {
  run: RunState | undefined;
  response: Response | undefined;
}

/** The MCP call a request comes from, for its trace. */
export interface SubmitContext {
  /** The MCP tool called. */
  tool: string;
  sessionId: string;
  /** W3C trace context from the call's `_meta` (`traceparent`, `tracestate`), when the client sent one. */
  traceContext?: Record<string, string> | undefined;
}

/**
 * What the MCP server needs from Baton: the declared workflows and policy, the executors' tool catalogue, and
 * requests in and responses out. {@link KafkaMcpBackend} is the real one (topics); a unit test may pass its own.
 */
export interface McpBackend {
  readonly policy: Policy;
  readonly workflows: ReadonlyMap<string, Workflow>;
  /** Every tool the executors offer now (baton.tool-catalogs), qualified `<server>/<tool>`. */
  tools(): ToolDescription[];
  /** Calls `listener` when the catalogue changes; returns how to stop. */
  onToolsChanged(listener: () => void): () => void;
  /** Produces a request onto baton.requests (signed when the gateway has a signing key), traced as the MCP call. */
  submit(request: Request, call: SubmitContext): Promise<void>;
  /** A response already seen for a request, without waiting. */
  knownResponse(requestId: string): Response | undefined;
  /**
   * The request's response once it arrives (including one written before this process watched), or undefined when
   * `timeoutMs` passes or `signal` aborts first.
   */
  waitForResponse(
    requestId: string,
    options: { signal: AbortSignal; timeoutMs: number },
  ): Promise<Response | undefined>;
  /**
   * A request's progress events (baton.events) from `since` on, as they are committed, ending with its response or
   * when `signal` aborts.
   */
  events(requestId: string, options: { since: number; signal: AbortSignal }): AsyncIterable<Event>;
  /** A request's run and response, read from the topics when not seen live. */
  find(requestId: string): Promise<RequestRecord>;
  /** Tool calls that wait for a person's approval now (every tenant's). */
  approvals(): Promise<ApprovalRequest[]>;
}
