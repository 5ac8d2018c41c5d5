import { deadLetterHeaders, type TextHeaders } from "../shared/kafka/headers.ts";
import type {
  ApprovalDecision,
  ApprovalRequest,
  CompletedRun,
  Draft,
  PolicyDecision,
  Request,
  Response,
  RunDeadline,
  RunState,
  ToolCall,
  ToolResult,
} from "../shared/schemas/records.ts";
import { topics } from "../shared/topics.ts";

/** A message of a request's history as `baton history` reads it. */
export interface HistoryMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: unknown;
  headers: TextHeaders;
  timestamp: number;
  decodeError?: string;
}

/** One line of a request's story. */
export interface HistoryEntry {
  time: string;
  timestamp: number;
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  /** What happened, in a few words. */
  what: string;
  value: unknown;
  headers: TextHeaders;
}

/** Whether a message is about a request: keyed by its id, or by `<requestId>/<stepId>` (idempotency, approvals). */
export function isAbout(requestId: string, key: string | null): boolean {
  return key === requestId || (key?.startsWith(`${requestId}/`) ?? false);
}

function clip(text: string, length = 100): string {
  const line = text.replace(/\s+/g, " ");
  return line.length > length ? `${line.slice(0, length - 1)}…` : line;
}

function steps(run: RunState): string {
  return run.steps.map((step) => `${step.stepId} ${step.status}`).join(", ");
}

/** The few words saying what a message of a main topic tells. */
function describeValue(topic: string, value: unknown, isFirstRun: boolean): string {
  switch (topic) {
    case "baton.requests": {
      const request = value as Request;
      const workflow = request.workflow === null ? "" : `, workflow ${request.workflow}`;
      return `request (tenant ${request.tenant}${workflow}): "${clip(request.input, 80)}"`;
    }
    case "baton.runs": {
      const run = value as RunState;
      if (isFirstRun)
        return `plan: ${run.steps.length} step${run.steps.length === 1 ? "" : "s"} (${run.steps.map((step) => `${step.stepId} ${step.tool}`).join(", ")})${run.workflow === null ? "" : `, workflow ${run.workflow}`}`;
      return `run ${run.status}: ${steps(run)}`;
    }
    case "baton.tool-calls": {
      const call = value as ToolCall;
      const attempt = call.attempt > 1 ? ` attempt ${call.attempt}` : "";
      const fallback = call.fallbackFor === null ? "" : ` (fallback for ${call.fallbackFor})`;
      return `call ${call.stepId} ${call.tool} ${clip(call.arguments, 80)}${attempt}${fallback}`;
    }
    case "baton.allowed-calls": {
      const call = value as ToolCall;
      return `cleared ${call.stepId} ${call.tool}${call.attempt > 1 ? ` attempt ${call.attempt}` : ""}`;
    }
    case "baton.policy-decisions": {
      const decision = value as PolicyDecision;
      const about = [decision.stepId, decision.tool].filter((part) => part !== null).join(" ");
      const rule = decision.ruleId === null ? "" : ` (${decision.ruleId})`;
      return `policy ${decision.action} ${decision.subject}${about === "" ? "" : ` ${about}`}${rule}: ${clip(decision.reason, 80)}`;
    }
    case "baton.approval-requests": {
      const pending = value as ApprovalRequest;
      return `approval requested ${pending.stepId} ${pending.tool} (${pending.ruleId}): ${clip(pending.reason, 80)}`;
    }
    case "baton.approvals": {
      const decision = value as ApprovalDecision;
      const comment = decision.comment === null ? "" : `: ${clip(decision.comment, 60)}`;
      return `approval ${decision.approved ? "APPROVED" : "REJECTED"} ${decision.stepId} by ${decision.approver}${comment}`;
    }
    case "baton.tool-intents": {
      const call = value as ToolCall;
      return `intent recorded ${call.stepId} ${call.tool} (before a call with side effects)`;
    }
    case "baton.tool-outcomes": {
      const result = value as ToolResult;
      return `outcome recorded ${result.stepId} ${result.tool} ${result.status}`;
    }
    case "baton.tool-results": {
      const result = value as ToolResult;
      const via = result.fallbackTool === null ? "" : ` via ${result.fallbackTool}`;
      const error = result.error === null ? "" : `: ${clip(result.error, 80)}`;
      return `result ${result.stepId} ${result.tool} ${result.status} attempts ${result.attempts} (${result.durationMs} ms)${via}${error}`;
    }
    case "baton.run-deadlines": {
      const deadline = value as RunDeadline;
      return `deadline passed (${new Date(deadline.deadlineAt).toISOString()})`;
    }
    case "baton.completed-runs": {
      const run = value as CompletedRun;
      const error = run.error === null ? "" : `: ${clip(run.error, 80)}`;
      return `run finished ${run.outcome}: ${run.steps.map((step) => `${step.stepId} ${step.status}`).join(", ")}${error}`;
    }
    case "baton.drafts": {
      const draft = value as Draft;
      return `draft ${draft.status}${draft.answer === null ? "" : `: "${clip(draft.answer, 80)}"`}`;
    }
    case "baton.responses": {
      const response = value as Response;
      const answer = response.answer === null ? "" : `: "${clip(response.answer, 80)}"`;
      const error = response.error === null ? "" : ` (${clip(response.error, 80)})`;
      return `response ${response.status}${answer}${error}`;
    }
    default:
      return clip(JSON.stringify(value));
  }
}

/** The order in which a story reads best, for messages written at the same millisecond (in one transaction). */
const storyOrder = [
  "baton.requests",
  "baton.runs",
  "baton.tool-calls",
  "baton.policy-decisions",
  "baton.approval-requests",
  "baton.approvals",
  "baton.allowed-calls",
  "baton.tool-intents",
  "baton.tool-results",
  "baton.tool-outcomes",
  "baton.run-deadlines",
  "baton.completed-runs",
  "baton.drafts",
  "baton.responses",
];
const mainTopics = [
  ...storyOrder,
  ...topics.map((declaration) => declaration.name).filter((name) => !storyOrder.includes(name)),
];

/** The main topic a concrete topic belongs to, and whether it is one of its retry topics or its dead letter. */
function roleOf(topic: string): { main: string; role: "main" | "retry" | "dead-letter" } {
  if (topic.endsWith(".dlq")) return { main: topic.slice(0, -".dlq".length), role: "dead-letter" };
  const retry = /^(.*)\.retry\.[^.]+$/.exec(topic);
  if (retry?.[1] !== undefined) return { main: retry[1], role: "retry" };
  return { main: topic, role: "main" };
}

const tombstones: Record<string, string> = {
  "baton.runs": "run state forgotten (tombstone)",
  "baton.approval-requests": "approval request closed (tombstone)",
};

/** Describes one message of a request's history; `isFirstRun` says a run state is the run's first (its plan). */
export function describeMessage(message: HistoryMessage, isFirstRun = false): string {
  const { main, role } = roleOf(message.topic);
  let what: string;
  if (message.decodeError !== undefined) what = `(cannot decode: ${clip(message.decodeError, 80)})`;
  else if (message.value === null || message.value === undefined) what = tombstones[main] ?? "(no value: a tombstone)";
  else what = describeValue(main, message.value, isFirstRun);
  if (role === "retry") return `retry ${message.topic.slice(main.length + ".retry.".length)}: ${what}`;
  if (role === "dead-letter") {
    const headers = message.headers;
    const reason = headers[deadLetterHeaders.reason] ?? "?";
    return `dead letter (${headers[deadLetterHeaders.code] ?? "?"} in ${headers[deadLetterHeaders.stage] ?? "?"}: ${clip(reason, 60)}): ${what}`;
  }
  return what;
}

function topicRank(topic: string): number {
  const rank = mainTopics.indexOf(roleOf(topic).main);
  return rank < 0 ? mainTopics.length : rank;
}

/** A request's story from its messages, in the order things happened (time, then the order topics are met). */
export function buildHistory(requestId: string, messages: readonly HistoryMessage[]): HistoryEntry[] {
  const about = messages
    .filter((message) => isAbout(requestId, message.key))
    .sort(
      (a, b) =>
        a.timestamp - b.timestamp ||
        topicRank(a.topic) - topicRank(b.topic) ||
        a.topic.localeCompare(b.topic) ||
        Number(BigInt(a.offset) - BigInt(b.offset)),
    );
  let planSeen = false;
  return about.map((message) => {
    const isFirstRun = message.topic === "baton.runs" && message.value !== null && !planSeen;
    if (isFirstRun) planSeen = true;
    return {
      time: new Date(message.timestamp).toISOString(),
      timestamp: message.timestamp,
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      key: message.key,
      what: describeMessage(message, isFirstRun),
      value: message.value,
      headers: message.headers,
    };
  });
}

/** A request's history for people: one line per message, time, topic, partition/offset and what happened. */
export function formatHistory(requestId: string, entries: readonly HistoryEntry[]): string[] {
  const partitions = [...new Set(entries.map((entry) => entry.partition))];
  const topicWidth = Math.max(5, ...entries.map((entry) => entry.topic.length));
  const placeWidth = Math.max(3, ...entries.map((entry) => `${entry.partition}/${entry.offset}`.length));
  return [
    `${requestId}: ${entries.length} message${entries.length === 1 ? "" : "s"} on partition ${partitions.join(", ")}`,
    `${"time".padEnd(24)}  ${"topic".padEnd(topicWidth)}  ${"p/offset".padEnd(placeWidth)}  what`,
    ...entries.map(
      (entry) =>
        `${entry.time}  ${entry.topic.padEnd(topicWidth)}  ${`${entry.partition}/${entry.offset}`.padEnd(placeWidth)}  ${entry.what}`,
    ),
  ];
}
