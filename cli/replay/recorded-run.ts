import type { TextHeaders } from "../../shared/kafka/headers.ts";
import type {
  ApprovalDecision,
  PolicyDecision,
  Request,
  Response,
  RunState,
  ToolCall,
  ToolResult,
} from "../../shared/schemas/records.ts";

/** A decoded message of a live topic, as read from Kafka (or made by a replay). */
export interface TopicMessage {
  topic: string;
  key: string | null;
  value: unknown;
  headers: TextHeaders;
  partition: number;
  timestamp: number;
}

/** The topics a request's original run is read from. */
export const recordedTopics = [
  "baton.requests",
  "baton.runs",
  "baton.tool-calls",
  "baton.tool-results",
  "baton.approvals",
  "baton.policy-decisions",
  "baton.responses",
] as const;

/** What a request's original run left on the topics, everything `baton replay` needs to run it again and compare. */
export interface RecordedRun {
  request: Request;
  /** The request's headers (its writer's signature, when requests are signed). */
  requestHeaders: TextHeaders;
  /** The partition number the request's messages are on. */
  partition: number;
  /** The tool results the executor gave (not policy's DENIED ones), in the order they were written. */
  outcomes: ToolResult[];
  /** The calls the planner made, in order, to find each outcome's arguments. */
  calls: ToolCall[];
  /** People's decisions on calls that waited for approval. */
  approvals: Array<{ decision: ApprovalDecision; headers: TextHeaders }>;
  /** Every message of the original run, for its {@link RunView}. */
  messages: TopicMessage[];
  /** When it was submitted and answered (record timestamps), to time the original. */
  submittedAt: number;
  respondedAt: number | undefined;
  response: Response | undefined;
}

/** The request id a message is about: its key, or the part before `/` of `<requestId>/<stepId>`. */
export function requestIdOf(key: string | null): string | undefined {
  if (key === null) return undefined;
  const slash = key.indexOf("/");
  return slash === -1 ? key : key.slice(0, slash);
}

/**
 * A request's original run from its messages (any order): undefined when they hold no request. The first request
 * message is the one that ran (a duplicate changes nothing).
 */
export function recordedRun(messages: readonly TopicMessage[]): RecordedRun | undefined {
  const sorted = [...messages].sort((a, b) => a.timestamp - b.timestamp);
  const first = sorted.find((message) => message.topic === "baton.requests");
  if (first === undefined) return undefined;
  const request = first.value as Request;
  const on = (topic: string) => sorted.filter((message) => message.topic === topic);
  const responseMessage = on("baton.responses")[0];
  return {
    request,
    requestHeaders: first.headers,
    partition: first.partition,
    outcomes: on("baton.tool-results")
      .map((message) => message.value as ToolResult)
      .filter((result) => result.status !== "DENIED"),
    calls: on("baton.tool-calls").map((message) => message.value as ToolCall),
    approvals: on("baton.approvals").map((message) => ({
      decision: message.value as ApprovalDecision,
      headers: message.headers,
    })),
    messages: sorted,
    submittedAt: first.timestamp,
    respondedAt: responseMessage?.timestamp,
    response: responseMessage?.value as Response | undefined,
  };
}

/** Groups messages of many requests by the request they are about, keeping those that hold a request. */
export function recordedRuns(messages: readonly TopicMessage[]): RecordedRun[] {
  const byRequest = new Map<string, TopicMessage[]>();
  for (const message of messages) {
    const requestId = requestIdOf(message.key);
    if (requestId === undefined) continue;
    const list = byRequest.get(requestId) ?? [];
    list.push(message);
    byRequest.set(requestId, list);
  }
  return [...byRequest.values()].flatMap((list) => recordedRun(list) ?? []);
}

/** What `baton replay` compares of a run: its plan, its steps, the policy decisions and the answer. */
export interface RunView {
  /** The workflow and its steps as first planned, `<stepId> <tool>`. */
  plan: string[];
  /** Each step as it ended: `<stepId> <tool> <status> <arguments>` and its error, if any. */
  steps: string[];
  /** Each policy decision once: `<subject> <action> <step> <tool> <rule>`, sorted (parallel steps end in any order). */
  decisions: string[];
  /** The response: its status, its answer's lines and its error. */
  answer: string[];
}

/** A run's {@link RunView} from its messages on the live topics (a replay's use the same topic names). */
export function runView(messages: readonly TopicMessage[]): RunView {
  const on = (topic: string) => messages.filter((message) => message.topic === topic).map((message) => message.value);
  const runs = on("baton.runs") as RunState[];
  const planned = runs.find((run) => run.steps.length > 0) ?? runs[0];
  const last = runs.at(-1);
  const argumentsOf = new Map((on("baton.tool-calls") as ToolCall[]).map((call) => [call.stepId, call.arguments]));
  const plan =
    planned === undefined
      ? ["(no plan)"]
      : [
          `workflow ${planned.workflow ?? "(none)"}`,
          ...planned.steps.filter((step) => !step.stepId.includes("~")).map((step) => `${step.stepId} ${step.tool}`),
        ];
  const steps = (last?.steps ?? []).map((step) => {
    const args = argumentsOf.get(step.stepId);
    const error = step.error === null ? "" : ` error: ${step.error}`;
    return `${step.stepId} ${step.tool} ${step.status}${args === undefined ? "" : ` ${args}`}${error}`;
  });
  // A message handled again (a rewind, a redrive) is audited again: the same decision twice is one decision.
  const decisions = [
    ...new Set(
      (on("baton.policy-decisions") as PolicyDecision[]).map(
        (decision) =>
          `${decision.subject} ${decision.action} ${decision.stepId ?? "-"} ${decision.tool ?? "-"} ${decision.ruleId ?? "-"}`,
      ),
    ),
  ].sort();
  const response = (on("baton.responses") as Response[])[0];
  const answer =
    response === undefined
      ? ["(no response)"]
      : [
          `status ${response.status}`,
          ...(response.answer ?? "(no answer)").split("\n"),
          ...(response.error === null ? [] : [`error: ${response.error}`]),
        ];
  return { plan, steps, decisions, answer };
}
