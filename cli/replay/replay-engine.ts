import { SpanStatusCode, type Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import { BatonError } from "../../shared/errors.ts";
import type { OutgoingMessage } from "../../shared/kafka/producer.ts";
import type { LlmClient } from "../../shared/llm/llm-client.ts";
import { defaultToolOutputPolicy } from "../../shared/llm/tool-output-screen.ts";
import type { Policy } from "../../shared/policy-file.ts";
import type {
  ApprovalDecision,
  ApprovalRequest,
  CompletedRun,
  Draft,
  Request,
  RunState,
  ToolCall,
  ToolDescription,
  ToolResult,
} from "../../shared/schemas/records.ts";
import type { Principals } from "../../shared/security/principals.ts";
import { withLogContext } from "../../shared/telemetry/log-context.ts";
import { StageMetrics } from "../../shared/telemetry/metrics.ts";
import { executeCall, type ExecutionContext } from "../../services/executor/executor.ts";
import type { ToolCallOutcome, ToolInvoker } from "../../services/executor/mcp-connections.ts";
import { CircuitOpenError, ToolGuard } from "../../services/executor/tool-guard.ts";
import { ArgumentValidator } from "../../services/planner/argument-validator.ts";
import { applyFollowUp, followUpWithLlm, mayFollowUp } from "../../services/planner/llm-follow-up.ts";
import { planWithLlm } from "../../services/planner/llm-planner.ts";
import {
  recordResult,
  refuseWriter,
  startRun,
  type PlannerContext,
  type PlannerOutcome,
} from "../../services/planner/planner.ts";
import type { Workflow } from "../../services/planner/workflow-file.ts";
import { applyApproval, approvalKey, checkAnswer, checkCall } from "../../services/policy/policy.ts";
import { summarizeRunWithLlm } from "../../services/summarizer/llm-summarizer.ts";
import { composeDraft } from "../../services/summarizer/summarizer.ts";
import { runView, type RecordedRun, type RunView, type TopicMessage } from "./recorded-run.ts";

/** The header and span attribute that mark replayed work: the replay's id. */
export const replayHeader = "baton-replay";

/** Where a replayed tool call's outcome came from. */
export type CallSource = "recorded" | "new" | "read-only";

/** One tool call a replay made, and where its outcome came from. */
export interface ReplayedCall {
  stepId: string;
  tool: string;
  arguments: string;
  source: CallSource;
}

/** A request run again: the messages its stages produced (on live topic names), its calls and its view. */
export interface ReplayedRun {
  requestId: string;
  messages: OutgoingMessage[];
  calls: ReplayedCall[];
  view: RunView;
  /** Why the replay did not reach a response, when it did not (a call waits for a person no one answered). */
  unfinished?: string;
}

/** What a replay runs on: the current (or given) configuration of the stages, and how to reach read-only tools. */
export interface ReplayConfiguration {
  replayId: string;
  workflows: ReadonlyMap<string, Workflow>;
  policy: Policy;
  principals: Principals;
  /** The executors' tool catalogues now (baton.tool-catalogs). */
  catalogue: readonly ToolDescription[];
  defaultDeadlineMs: number;
  llm: LlmClient | undefined;
  followUps: number;
  /** With `--tools read-only`: the live MCP servers, and which tools say readOnlyHint. */
  readOnlyTools?: { invoker: ToolInvoker; isReadOnly(tool: string): boolean };
  logger: Logger;
  tracer: Tracer;
  metrics: StageMetrics;
}

/** A replay's metrics: the stage metrics' series, every one labelled replay="true", apart from any live stage's. */
export function createReplayMetrics(): StageMetrics {
  const metrics = new StageMetrics("replay");
  metrics.registry.setDefaultLabels({ stage: "replay", replay: "true" });
  return metrics;
}

/** Messages are handled by the stage that consumes their topic, as the live stages would. */
const stageOf: Record<string, string> = {
  "baton.requests": "planner",
  "baton.tool-results": "planner",
  "baton.tool-calls": "policy",
  "baton.approvals": "policy",
  "baton.drafts": "policy",
  "baton.allowed-calls": "executor",
  "baton.completed-runs": "summarizer",
};

/** A replay gives up on a request whose stages keep producing work (a follow-up loop): it never settles. */
const maxMessagesPerRequest = 2_000;

/** JSON with sorted keys, so arguments match whatever order their keys were written in. */
export function canonicalJson(text: string): string {
  const sort = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sort);
    if (value !== null && typeof value === "object")
      return Object.fromEntries(
        Object.entries(value as Record<string, unknown>)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([key, inner]) => [key, sort(inner)]),
      );
    return value;
  };
  try {
    return JSON.stringify(sort(JSON.parse(text)));
  } catch {
    return text;
  }
}

interface RecordedCall {
  stepId: string;
  tool: string;
  arguments: string;
  result: ToolResult;
  used: boolean;
}

/** The original's calls with their outcomes, each answerable once, matched on tool and arguments. */
function recordedCalls(recorded: RecordedRun): RecordedCall[] {
  return recorded.outcomes.flatMap((result) => {
    const call = recorded.calls.findLast((candidate) => candidate.stepId === result.stepId);
    if (call === undefined || call.tool !== result.tool) return [];
    return [
      { stepId: result.stepId, tool: result.tool, arguments: canonicalJson(call.arguments), result, used: false },
    ];
  });
}

function recordedOutcome(result: ToolResult): ToolCallOutcome {
  if (result.status === "SUCCEEDED") return { status: "SUCCEEDED", output: result.output ?? "" };
  if (result.status === "TIMED_OUT") return { status: "TIMED_OUT", error: result.error ?? "timed out" };
  return { status: "FAILED", error: result.error ?? "failed", transient: false };
}

/**
 * Runs recorded requests again through the stages' own logic (planner, policy, executor, summarizer functions),
 * in this process: each message goes to the function of the stage that consumes its topic, as the runners route
 * them through Kafka. Tool calls matching a call of the original run (tool and arguments) are answered from its
 * recorded outcome; any other call is "new" and never reaches a tool, except a read-only one when allowed. Nothing
 * is written here: the caller writes the replayed messages to the replay namespace.
 */
export class ReplayEngine {
  private readonly configuration: ReplayConfiguration;
  private readonly context: PlannerContext;
  private readonly guard = new ToolGuard(() => ({}));

  constructor(configuration: ReplayConfiguration) {
    this.configuration = configuration;
    const tools = new Map(configuration.catalogue.map((tool) => [tool.name, tool]));
    this.context = {
      workflows: configuration.workflows,
      tenants: new Set(Object.keys(configuration.policy.tenants)),
      tool: (name) => tools.get(name),
      validator: new ArgumentValidator(),
      defaultDeadlineMs: configuration.defaultDeadlineMs,
      now: Date.now,
    };
  }

  /** Replays one request; a failure of the stage logic itself (a bug, an LLM down) rejects. */
  async replay(recorded: RecordedRun): Promise<ReplayedRun> {
    const { tracer, replayId } = this.configuration;
    const requestId = recorded.request.requestId;
    return tracer.startActiveSpan(
      `replay ${requestId}`,
      { attributes: { "baton.replay": replayId, "baton.request_id": requestId } },
      async (span) => {
        try {
          return await withLogContext({ requestId }, () => this.run(recorded));
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
          throw error;
        } finally {
          span.end();
        }
      },
    );
  }

  private async run(recorded: RecordedRun): Promise<ReplayedRun> {
    const requestId = recorded.request.requestId;
    const state = {
      runs: new Map<string, RunState>(),
      waiting: new Map<string, ApprovalRequest>(),
      recordedCalls: recordedCalls(recorded),
      calls: [] as ReplayedCall[],
    };
    const produced: OutgoingMessage[] = [];
    const queue: Array<{ topic: string; value: unknown; headers: Record<string, string> }> = [
      { topic: "baton.requests", value: recorded.request, headers: recorded.requestHeaders },
    ];
    let handled = 0;
    while (queue.length > 0) {
      const message = queue.shift();
      if (message === undefined) break;
      handled += 1;
      if (handled > maxMessagesPerRequest)
        throw new BatonError("INVALID_INPUT", `the replay of ${requestId} did not settle after ${handled} messages`);
      const stage = stageOf[message.topic] ?? "unknown";
      this.configuration.metrics.messagesIn.inc({ topic: message.topic });
      const outputs = await this.configuration.tracer.startActiveSpan(
        `replay ${stage} ${message.topic}`,
        { attributes: { "baton.replay": this.configuration.replayId, "baton.stage": stage } },
        async (span) => {
          try {
            return await withLogContext({ stage }, () => this.handle(message, recorded, state));
          } finally {
            span.end();
          }
        },
      );
      for (const output of outputs) {
        this.configuration.metrics.messagesOut.inc({ topic: output.topic });
        produced.push(output);
        if (stageOf[output.topic] !== undefined)
          queue.push({ topic: output.topic, value: output.value, headers: output.headers ?? {} });
      }
    }
    const view = runView(
      produced.map((message): TopicMessage => ({
        topic: message.topic,
        key: message.key,
        value: message.value,
        headers: {},
        partition: recorded.partition,
        timestamp: 0,
      })),
    );
    const run = state.runs.get(requestId);
    const unfinished =
      produced.some((message) => message.topic === "baton.responses") || run === undefined
        ? undefined
        : state.waiting.size > 0
          ? `waits for a person's decision the original run never got (${[...state.waiting.keys()].join(", ")})`
          : `the run is ${run.status} and never answered`;
    this.configuration.logger.info({ messages: produced.length }, "request replayed");
    return {
      requestId,
      messages: produced,
      calls: state.calls,
      view,
      ...(unfinished === undefined ? {} : { unfinished }),
    };
  }

  private async handle(
    message: { topic: string; value: unknown; headers: Record<string, string> },
    recorded: RecordedRun,
    state: {
      runs: Map<string, RunState>;
      waiting: Map<string, ApprovalRequest>;
      recordedCalls: RecordedCall[];
      calls: ReplayedCall[];
    },
  ): Promise<OutgoingMessage[]> {
    const { policy, principals, llm } = this.configuration;
    const now = Date.now();
    const planned = (outcome: PlannerOutcome): OutgoingMessage[] => {
      if (outcome.run !== undefined) state.runs.set(outcome.run.requestId, outcome.run);
      return outcome.messages;
    };
    switch (message.topic) {
      case "baton.requests": {
        const request = message.value as Request;
        const existing = state.runs.get(request.requestId);
        const writer = principals.check(message.topic, request, message.headers, request.tenant, "submit");
        if ("problem" in writer) return planned(refuseWriter(request, existing, writer.problem, now));
        const tenant = policy.tenants[request.tenant];
        const llmPlan =
          llm !== undefined && request.workflow === null && existing === undefined && tenant !== undefined
            ? await planWithLlm(request, this.configuration.catalogue, this.context.workflows, llm, tenant)
            : undefined;
        return planned(startRun(request, existing, this.context, llmPlan));
      }
      case "baton.tool-results": {
        const result = message.value as ToolResult;
        let outcome = recordResult(result, state.runs.get(result.requestId), this.context);
        const done = outcome.run;
        const tenant = done === undefined ? undefined : policy.tenants[done.tenant];
        if (
          llm !== undefined &&
          done !== undefined &&
          tenant !== undefined &&
          mayFollowUp(done, this.configuration.followUps)
        ) {
          const followUp = await followUpWithLlm(done, this.configuration.catalogue, llm, tenant, now);
          outcome = applyFollowUp(outcome, followUp, this.context);
        }
        return planned(outcome);
      }
      case "baton.tool-calls": {
        const call = message.value as ToolCall;
        const outcome = checkCall(call, policy, now);
        const messages: OutgoingMessage[] = [...outcome.messages];
        if (outcome.approvalState?.value != null) {
          state.waiting.set(outcome.approvalState.key, outcome.approvalState.value);
          // The original's decision on this step, if a person gave one, is applied as policy would apply it.
          const answer = recorded.approvals.findLast((approval) => approval.decision.stepId === call.stepId);
          if (answer !== undefined)
            messages.push({
              topic: "baton.approvals",
              key: call.requestId,
              value: answer.decision,
              headers: answer.headers,
            });
        }
        return messages;
      }
      case "baton.approvals": {
        const answer = message.value as ApprovalDecision;
        const key = approvalKey(answer.requestId, answer.stepId);
        const waiting = state.waiting.get(key);
        const writer = principals.check(
          message.topic,
          answer,
          message.headers,
          waiting?.tenant ?? answer.tenant,
          "approve",
        );
        const outcome = applyApproval(answer, waiting, policy, now, writer);
        if (outcome.approvalState?.value === null) state.waiting.delete(key);
        return outcome.messages;
      }
      case "baton.allowed-calls":
        return this.execute(message.value as ToolCall, state);
      case "baton.completed-runs": {
        const run = message.value as CompletedRun;
        if (llm === undefined || run.steps.length === 0) return [composeDraft(run, now)];
        return summarizeRunWithLlm(run, {
          client: llm,
          toolOutput: policy.tenants[run.tenant]?.toolOutput ?? defaultToolOutputPolicy,
          now,
          onFailure: (error) =>
            this.configuration.logger.warn({ err: error }, "LLM summary failed; using the template"),
        });
      }
      case "baton.drafts":
        return checkAnswer(message.value as Draft, policy, now).messages;
      default:
        return [];
    }
  }

  /** The executor's logic on a replayed call, with an invoker that answers from the record and calls nothing new. */
  private async execute(
    call: ToolCall,
    state: { recordedCalls: RecordedCall[]; calls: ReplayedCall[] },
  ): Promise<OutgoingMessage[]> {
    const args = canonicalJson(call.arguments);
    const candidates = state.recordedCalls.filter(
      (candidate) => !candidate.used && candidate.tool === call.tool && candidate.arguments === args,
    );
    const match = candidates.find((candidate) => candidate.stepId === call.stepId) ?? candidates[0];
    const readOnly = this.configuration.readOnlyTools;
    const source: CallSource =
      match !== undefined ? "recorded" : readOnly?.isReadOnly(call.tool) === true ? "read-only" : "new";
    if (match !== undefined) match.used = true;
    state.calls.push({ stepId: call.stepId, tool: call.tool, arguments: call.arguments, source });
    this.configuration.metrics.toolCalls.inc({ tool: call.tool, status: source });
    const invoker: ToolInvoker = {
      call: (tool, toolArgs, options) => {
        if (match !== undefined) {
          // A breaker that was open in the original run: the executor names the fallback again.
          if (match.result.fallbackTool !== null) return Promise.reject(new CircuitOpenError(tool));
          return Promise.resolve(recordedOutcome(match.result));
        }
        if (source === "read-only" && readOnly !== undefined) return readOnly.invoker.call(tool, toolArgs, options);
        return Promise.resolve({
          status: "FAILED",
          error: `not called by replay: the original run made no call of ${tool} with these arguments (a new call)`,
          transient: false,
        });
      },
    };
    const context: ExecutionContext = {
      tools: invoker,
      guard: this.guard,
      settings: () => (match?.result.fallbackTool == null ? {} : { fallback: match.result.fallbackTool }),
      recorded: () => undefined,
      started: () => false,
      recordIntent: () => Promise.resolve(),
      isIdempotent: () => false,
      attempt: match?.result.attempts ?? 1,
      defaultRetryDelaysMs: [],
      now: Date.now,
      traceHeaders: {},
    };
    return executeCall(call, context);
  }
}
