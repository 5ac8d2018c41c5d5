/**
 * TypeScript shapes of the Avro records in schemas/*.avsc, kept in one place.
 * schemas/records.test.ts checks each one against its .avsc so the two cannot drift apart.
 */

/** baton.Request: the front door (schemas/request.avsc). */
export interface Request {
  requestId: string;
  tenant: string;
  input: string;
  workflow: string | null;
  metadata: Record<string, string>;
  /** Epoch milliseconds. */
  submittedAt: number;
}

/** baton.ResponseStatus. */
export type ResponseStatus = "ANSWERED" | "REFUSED" | "FAILED";

/** baton.StepSummary: one tool step as the caller sees it. */
export interface StepSummary {
  stepId: string;
  tool: string;
  status: string;
  attempts: number;
  durationMs: number;
}

/** baton.Response: the one outcome of a request (schemas/response.avsc). */
export interface Response {
  requestId: string;
  status: ResponseStatus;
  answer: string | null;
  steps: StepSummary[];
  error: string | null;
  /** Epoch milliseconds. */
  completedAt: number;
}

/** baton.ToolCall: one planned step (schemas/tool-call.avsc). */
export interface ToolCall {
  requestId: string;
  tenant: string;
  stepId: string;
  /** `<server>/<tool>`. */
  tool: string;
  /** JSON object. */
  arguments: string;
  idempotencyKey: string;
  attempt: number;
  timeoutMs: number;
  dispatchedAt: number;
  /** Epoch milliseconds of the run's deadline (an approval that arrives later is refused); null for none. */
  deadlineAt: number | null;
  /** The stepId of the primary call this one stands in for (its breaker was open); null for a planned step. */
  fallbackFor: string | null;
}

/** baton.ToolResultStatus. */
export type ToolResultStatus = "SUCCEEDED" | "FAILED" | "DENIED" | "TIMED_OUT";

/** baton.ToolResult (schemas/tool-result.avsc). */
export interface ToolResult {
  requestId: string;
  stepId: string;
  tool: string;
  status: ToolResultStatus;
  output: string | null;
  error: string | null;
  attempts: number;
  durationMs: number;
  completedAt: number;
  /** Set when the tool's breaker was open and it has a fallback, which the planner dispatches as its own step. */
  fallbackTool: string | null;
}

/** Where a step of a run stands; FALLING_BACK: its breaker was open and its fallback step runs in its place. */
export type StepStatus = "PENDING" | "DISPATCHED" | "FALLING_BACK" | ToolResultStatus | "SKIPPED";

/** baton.StepState: one step inside a RunState. */
export interface StepState {
  stepId: string;
  tool: string;
  needs: string[];
  condition: string | null;
  argumentsTemplate: string;
  timeoutMs: number;
  status: StepStatus;
  output: string | null;
  error: string | null;
  attempts: number;
  dispatchedAt: number | null;
  durationMs: number;
}

/** baton.RunState (schemas/run-state.avsc). */
export interface RunState {
  requestId: string;
  tenant: string;
  input: string;
  workflow: string | null;
  metadata: Record<string, string>;
  submittedAt: number;
  status: "RUNNING" | "COMPLETED";
  answerTemplate: string | null;
  steps: StepState[];
  updatedAt: number;
  /** Epoch milliseconds after which the run is ended FAILED; null for none. */
  deadlineAt: number | null;
}

/** baton.RunDeadline (schemas/run-deadline.avsc). */
export interface RunDeadline {
  requestId: string;
  deadlineAt: number;
}

/** baton.StepOutcome: one step as the summarizer sees it. */
export interface StepOutcome {
  stepId: string;
  tool: string;
  status: StepStatus;
  output: string | null;
  error: string | null;
  attempts: number;
  durationMs: number;
}

/** baton.CompletedRun (schemas/completed-run.avsc). */
export interface CompletedRun {
  requestId: string;
  tenant: string;
  input: string;
  workflow: string | null;
  metadata: Record<string, string>;
  outcome: "COMPLETED" | "REFUSED" | "FAILED";
  error: string | null;
  answerTemplate: string | null;
  steps: StepOutcome[];
  completedAt: number;
}

/** baton.Draft (schemas/draft.avsc): an answer before policy. */
export interface Draft {
  requestId: string;
  tenant: string;
  status: ResponseStatus;
  answer: string | null;
  steps: StepSummary[];
  error: string | null;
  completedAt: number;
}

/** baton.ApprovalRequest (schemas/approval-request.avsc): a call waiting for a person. */
export interface ApprovalRequest extends ToolCall {
  /** sha256 of the waiting call's tool and arguments: a decision must carry the same. */
  callDigest: string | null;
  ruleId: string;
  reason: string;
  requestedAt: number;
}

/** baton.ApprovalDecision (schemas/approval-decision.avsc). */
export interface ApprovalDecision extends ToolCall {
  /** The digest of the approval request it answers. */
  callDigest: string | null;
  approved: boolean;
  approver: string;
  comment: string | null;
  decidedAt: number;
}

/** baton.PolicyAction. */
export type PolicyAction =
  "ALLOW" | "DENY" | "WAIT" | "APPROVED" | "REJECTED" | "REDACT" | "BLOCK" | "APPEND" | "FLAG" | "REFUSE";

/** baton.PolicySubject: what a decision is about. */
export type PolicySubject = "TOOL_CALL" | "ANSWER" | "APPROVAL" | "TOOL_OUTPUT" | "REQUEST";

/** baton.PolicyDecision (schemas/policy-decision.avsc): one entry of the audit trail. */
export interface PolicyDecision {
  requestId: string;
  tenant: string;
  stepId: string | null;
  tool: string | null;
  subject: PolicySubject;
  action: PolicyAction;
  ruleId: string | null;
  reason: string;
  decidedAt: number;
}

/** baton.ToolDescription: one tool in a catalogue. */
export interface ToolDescription {
  name: string;
  description: string;
  /** JSON Schema as text. */
  inputSchema: string;
}

/** baton.ToolCatalog (schemas/tool-catalog.avsc). */
export interface ToolCatalog {
  server: string;
  transport: string;
  tools: ToolDescription[];
  updatedAt: number;
}

/** baton.EventType: what happened to a request; OTHER stands for a type added after this reader was written. */
export type EventType =
  | "PLANNED"
  | "ALLOWED"
  | "DENIED"
  | "WAITING_FOR_APPROVAL"
  | "APPROVED"
  | "REJECTED"
  | "STARTED"
  | "RETRIED"
  | "FINISHED"
  | "PARTIAL_TEXT"
  | "RESPONSE"
  | "OTHER";

/** baton.Event (schemas/event.avsc): one step of a request's progress on baton.events. */
export interface Event {
  requestId: string;
  type: EventType;
  stepId: string | null;
  tool: string | null;
  /** FINISHED: the step's status; RESPONSE: the response's. */
  status: string | null;
  attempt: number | null;
  /** Why: a denial's rule and reason, a step's error, a retry's cause. */
  detail: string | null;
  /** PARTIAL_TEXT: the next redacted piece of the answer; RESPONSE: the final answer. */
  text: string | null;
  /** PARTIAL_TEXT: the piece's number from 0 (0 again: the answer is written again from the start). */
  sequence: number | null;
  /** RESPONSE: the baton.Response as JSON. */
  response: string | null;
  /** Epoch milliseconds. */
  at: number;
}

/** Maps each record's Avro full name to its TypeScript shape. */
export interface RecordTypes {
  "baton.Request": Request;
  "baton.Response": Response;
  "baton.ToolCall": ToolCall;
  "baton.ToolResult": ToolResult;
  "baton.RunState": RunState;
  "baton.CompletedRun": CompletedRun;
  "baton.Draft": Draft;
  "baton.ApprovalRequest": ApprovalRequest;
  "baton.ApprovalDecision": ApprovalDecision;
  "baton.PolicyDecision": PolicyDecision;
  "baton.ToolCatalog": ToolCatalog;
  "baton.RunDeadline": RunDeadline;
  "baton.Event": Event;
}

/** Avro full names of the records Baton ships. */
export type RecordName = keyof RecordTypes;
