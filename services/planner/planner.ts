import { BatonError } from "../../shared/errors.ts";
import type { OutgoingMessage } from "../../shared/kafka/producer.ts";
import type {
  CompletedRun,
  PolicyDecision,
  Request,
  RunDeadline,
  RunState,
  StepState,
  ToolCall,
  ToolDescription,
  ToolResult,
} from "../../shared/schemas/records.ts";
import { evaluate, render, type Condition } from "../../shared/templates.ts";
import { templateData } from "../../shared/run-data.ts";
import type { ArgumentValidator } from "./argument-validator.ts";
import type { LlmPlan } from "./llm-planner.ts";
import { routeByKeywords } from "./router.ts";
import type { Workflow } from "./workflow-file.ts";

/** Topics the planner writes. */
export const plannerTopics = {
  toolCalls: "baton.tool-calls",
  runs: "baton.runs",
  completedRuns: "baton.completed-runs",
  /** The audit trail, for requests refused because of who wrote them. */
  decisions: "baton.policy-decisions",
} as const;

/** What the planner needs besides the message: workflows, tenants, the tool catalogue, a clock. */
export interface PlannerContext {
  workflows: ReadonlyMap<string, Workflow>;
  tenants: ReadonlySet<string>;
  /** The tool a qualified name refers to, from the executors' catalogues. */
  tool(name: string): ToolDescription | undefined;
  validator: ArgumentValidator;
  /** A run's deadline when neither the request (metadata `deadlineMs`) nor its workflow sets one. */
  defaultDeadlineMs: number;
  now(): number;
}

/** The planner's answer to one message: the run's new state (to record) and the messages to send. */
export interface PlannerOutcome {
  run: RunState | undefined;
  messages: OutgoingMessage[];
}

const terminal = new Set(["SUCCEEDED", "FAILED", "DENIED", "SKIPPED", "TIMED_OUT"]);

function refuse(request: Request, outcome: "REFUSED" | "FAILED", reason: string, now: number): PlannerOutcome {
  const completed: CompletedRun = {
    requestId: request.requestId,
    tenant: request.tenant,
    input: request.input,
    workflow: request.workflow,
    metadata: request.metadata,
    outcome,
    error: reason,
    answerTemplate: null,
    steps: [],
    completedAt: now,
  };
  // Recorded like any run, so the same requestId submitted again gets no second response.
  const run: RunState = {
    requestId: request.requestId,
    tenant: request.tenant,
    input: request.input,
    workflow: request.workflow,
    metadata: request.metadata,
    submittedAt: request.submittedAt,
    status: "COMPLETED",
    answerTemplate: null,
    steps: [],
    updatedAt: now,
    deadlineAt: null,
  };
  return {
    run,
    messages: [
      { topic: plannerTopics.runs, key: request.requestId, value: run },
      { topic: plannerTopics.completedRuns, key: request.requestId, value: completed },
    ],
  };
}

/**
 * A request whose writer may not submit for its tenant (unsigned, a bad signature, or a principal not bound to the
 * tenant, when the policy file declares principals): refused and audited, never planned.
 */
export function refuseWriter(
  request: Request,
  existing: RunState | undefined,
  problem: string,
  now: number,
): PlannerOutcome {
  if (existing !== undefined) return { run: undefined, messages: [] };
  const outcome = refuse(request, "REFUSED", `request refused: ${problem}`, now);
  const audit: PolicyDecision = {
    requestId: request.requestId,
    tenant: request.tenant,
    stepId: null,
    tool: null,
    subject: "REQUEST",
    action: "REFUSE",
    ruleId: "writer-not-allowed",
    reason: problem,
    decidedAt: now,
  };
  return {
    run: outcome.run,
    messages: [...outcome.messages, { topic: plannerTopics.decisions, key: request.requestId, value: audit }],
  };
}

/** Problems that make a plan unable to run: tools no executor offers. */
function planProblems(workflow: Workflow, context: PlannerContext): string[] {
  return workflow.steps
    .filter((step) => context.tool(step.tool) === undefined)
    .map((step) => `step ${step.id} uses unknown tool ${step.tool}`);
}

/**
 * Starts a run for a request: picks the workflow (the named one, the LLM's plan when one was made, or the rules
 * router's choice), checks the plan, and dispatches the steps that can start.
 */
export function startRun(
  request: Request,
  existing: RunState | undefined,
  context: PlannerContext,
  llmPlan?: LlmPlan,
): PlannerOutcome {
  if (existing !== undefined) return { run: undefined, messages: [] };
  const now = context.now();
  if (!context.tenants.has(request.tenant)) return refuse(request, "REFUSED", `unknown tenant ${request.tenant}`, now);
  let workflow: Workflow | undefined;
  if (request.workflow?.startsWith(directCallPrefix) === true) {
    const direct = directCallWorkflow(request);
    if ("problem" in direct) return refuse(request, "REFUSED", direct.problem, now);
    workflow = direct.workflow;
  } else if (request.workflow !== null) {
    workflow = context.workflows.get(request.workflow);
    if (workflow === undefined) {
      const known = [...context.workflows.keys()].join(", ");
      return refuse(request, "REFUSED", `unknown workflow ${request.workflow} (known: ${known})`, now);
    }
  } else if (llmPlan !== undefined) {
    if ("error" in llmPlan) return refuse(request, llmPlan.refused === true ? "REFUSED" : "FAILED", llmPlan.error, now);
    workflow = llmPlan.workflow;
  } else {
    workflow = routeByKeywords(request.input, context.workflows.values());
    if (workflow === undefined) return refuse(request, "REFUSED", "no workflow matches this request", now);
  }
  const problems = planProblems(workflow, context);
  if (problems.length > 0)
    return refuse(request, "FAILED", `invalid plan for ${workflow.name}: ${problems.join("; ")}`, now);

  const run: RunState = {
    requestId: request.requestId,
    tenant: request.tenant,
    input: request.input,
    workflow: workflow.name,
    metadata: request.metadata,
    submittedAt: request.submittedAt,
    status: "RUNNING",
    answerTemplate: workflow.answer.length === 0 ? null : JSON.stringify(workflow.answer),
    steps: workflow.steps.map((step) =>
      workflow.name.startsWith(directCallPrefix)
        ? { ...pendingStep(step), argumentsTemplate: JSON.stringify(directCallArguments) }
        : pendingStep(step),
    ),
    updatedAt: now,
    deadlineAt: now + deadlineOf(request, workflow, context),
  };
  return advance(run, context);
}

/**
 * The workflow name of a direct tool call: a request whose workflow is `tool:<server>/<tool>` runs that one tool,
 * with the request's input (a JSON object) as its arguments, through policy and the executor like any step.
 */
export const directCallPrefix = "tool:";

/** The step id of a direct call's one step. */
export const directCallStepId = "call";

/** A direct call's arguments are the request's input read as JSON, never rendered as a template. */
const directCallArguments = "{{ request.input | json }}";

const directToolName = /^[A-Za-z0-9_-]+\/[A-Za-z0-9_.-]+$/;

/**
 * The one-step workflow of a direct tool call (see {@link directCallPrefix}), whose answer is the tool's output as
 * JSON (checked by policy's answer rules like any answer), or why the request cannot be one.
 */
export function directCallWorkflow(request: Request): { workflow: Workflow } | { problem: string } {
  const tool = (request.workflow ?? "").slice(directCallPrefix.length);
  if (!directToolName.test(tool)) return { problem: `a direct call names a tool as tool:<server>/<tool>, not ${tool}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.input);
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    return { problem: `a direct call of ${tool} takes its arguments as a JSON object in the request's input` };
  return {
    workflow: {
      name: `${directCallPrefix}${tool}`,
      description: `a direct call of ${tool}`,
      steps: [{ id: directCallStepId, tool, needs: [], arguments: {}, timeoutMs: 30_000 }],
      answer: [{ text: `{{ steps.${directCallStepId}.output | string }}` }],
      triggers: [],
    },
  };
}

/** A workflow step as a run's step that has not started. */
export function pendingStep(step: Workflow["steps"][number]): StepState {
  return {
    stepId: step.id,
    tool: step.tool,
    needs: step.needs,
    condition: step.when === undefined ? null : JSON.stringify(step.when),
    argumentsTemplate: JSON.stringify(step.arguments),
    timeoutMs: step.timeoutMs,
    status: "PENDING",
    output: null,
    error: null,
    attempts: 0,
    dispatchedAt: null,
    durationMs: 0,
  };
}

function deadlineOf(request: Request, workflow: Workflow, context: PlannerContext): number {
  const asked = Number(request.metadata.deadlineMs);
  return Number.isInteger(asked) && asked > 0 ? asked : (workflow.deadlineMs ?? context.defaultDeadlineMs);
}

/**
 * Ends a run whose deadline passed: steps still running are TIMED_OUT, steps not started are SKIPPED, and the
 * run completes FAILED with what did complete. A run already finished is left alone.
 */
export function expireRun(deadline: RunDeadline, run: RunState | undefined, context: PlannerContext): PlannerOutcome {
  if (run === undefined || run.status === "COMPLETED") return { run: undefined, messages: [] };
  const now = context.now();
  const steps = run.steps.map((step): StepState => {
    if (step.status === "DISPATCHED" || step.status === "FALLING_BACK")
      return { ...step, status: "TIMED_OUT", error: "the run's deadline passed before it finished" };
    if (step.status === "PENDING")
      return { ...step, status: "SKIPPED", error: "the run's deadline passed before it started" };
    return step;
  });
  const finished: RunState = { ...run, steps, status: "COMPLETED", updatedAt: now };
  const completed = completedRun(finished, now);
  const done = run.steps.filter((step) => step.status === "SUCCEEDED").map((step) => step.stepId);
  completed.outcome = "FAILED";
  completed.error = `the deadline passed at ${new Date(deadline.deadlineAt).toISOString()}; completed: ${done.join(", ") || "nothing"}`;
  return {
    run: finished,
    messages: [
      { topic: plannerTopics.runs, key: run.requestId, value: finished },
      { topic: plannerTopics.completedRuns, key: run.requestId, value: completed },
    ],
  };
}

/** Records a step's result in its run and dispatches what became ready; finishes the run when all steps are done. */
export function recordResult(result: ToolResult, run: RunState | undefined, context: PlannerContext): PlannerOutcome {
  if (run === undefined) {
    throw new BatonError("INVALID_INPUT", `result for step ${result.stepId} of unknown run ${result.requestId}`);
  }
  const step = run.steps.find((candidate) => candidate.stepId === result.stepId);
  if (step === undefined) throw new BatonError("INVALID_INPUT", `run ${run.requestId} has no step ${result.stepId}`);
  if (run.status === "COMPLETED" || step.status !== "DISPATCHED") return { run: undefined, messages: [] };
  if (result.fallbackTool !== null && primaryOf(step.stepId) === undefined)
    return fallBack(run, step, result, result.fallbackTool, context);
  const updated: RunState = {
    ...run,
    steps: run.steps.map((candidate) =>
      candidate.stepId === step.stepId
        ? {
            ...candidate,
            status: result.status,
            output: result.output,
            error: result.error,
            attempts: Math.max(candidate.attempts, result.attempts),
            durationMs: result.durationMs,
          }
        : candidate,
    ),
    updatedAt: context.now(),
  };
  const primaryId = primaryOf(step.stepId);
  if (primaryId === undefined) return advance(updated, context);
  // A fallback's outcome is its primary's: later steps read the primary's output, whichever tool gave it.
  return advance(
    {
      ...updated,
      steps: updated.steps.map((candidate) =>
        candidate.stepId === primaryId && candidate.status === "FALLING_BACK"
          ? {
              ...candidate,
              status: result.status,
              output: result.output,
              error:
                result.status === "SUCCEEDED"
                  ? null
                  : `${candidate.error ?? "breaker open"}; fallback ${result.tool} ended ${result.status}: ${result.error ?? "no reason given"}`,
            }
          : candidate,
      ),
    },
    context,
  );
}

/** The step id a fallback of a step runs as: `~` never appears in a workflow's step ids, so none can clash. */
export function fallbackStepId(stepId: string): string {
  return `${stepId}~fallback`;
}

/** The primary step a fallback step stands in for, or undefined for a planned step. */
function primaryOf(stepId: string): string | undefined {
  return stepId.endsWith("~fallback") ? stepId.slice(0, -"~fallback".length) : undefined;
}

/**
 * A step whose tool's breaker is open and has a fallback: the fallback runs as a step of its own, with the same
 * arguments and its own idempotency key, through policy like any call (the tenant's rules, approvals, audit). The
 * primary waits for it, then takes its outcome.
 */
function fallBack(
  run: RunState,
  step: StepState,
  result: ToolResult,
  fallbackTool: string,
  context: PlannerContext,
): PlannerOutcome {
  const now = context.now();
  const argumentsValue = render(JSON.parse(step.argumentsTemplate), templateData(run));
  const tool = context.tool(fallbackTool);
  const problems =
    tool === undefined
      ? [`tool ${fallbackTool} is not offered by any executor`]
      : context.validator.problems(tool.inputSchema, argumentsValue);
  const id = fallbackStepId(step.stepId);
  const fallback: StepState = {
    stepId: id,
    tool: fallbackTool,
    needs: [],
    condition: null,
    argumentsTemplate: step.argumentsTemplate,
    timeoutMs: step.timeoutMs,
    status: problems.length > 0 ? "FAILED" : "DISPATCHED",
    output: null,
    error: problems.length > 0 ? `invalid arguments for ${fallbackTool}: ${problems.join("; ")}` : null,
    attempts: problems.length > 0 ? 0 : 1,
    dispatchedAt: problems.length > 0 ? null : now,
    durationMs: 0,
  };
  const primary: StepState = {
    ...step,
    status: problems.length > 0 ? "FAILED" : "FALLING_BACK",
    error: problems.length > 0 ? `${result.error ?? "breaker open"}; ${fallback.error ?? ""}` : result.error,
    attempts: Math.max(step.attempts, result.attempts),
    durationMs: result.durationMs,
  };
  const steps = run.steps.flatMap((candidate) =>
    candidate.stepId === step.stepId ? [primary, fallback] : [candidate],
  );
  const outcome = advance({ ...run, steps, updatedAt: now }, context);
  if (fallback.status !== "DISPATCHED") return outcome;
  const call: ToolCall = {
    requestId: run.requestId,
    tenant: run.tenant,
    stepId: id,
    tool: fallbackTool,
    arguments: JSON.stringify(argumentsValue),
    idempotencyKey: `${run.requestId}/${id}`,
    attempt: 1,
    timeoutMs: step.timeoutMs,
    dispatchedAt: now,
    deadlineAt: run.deadlineAt,
    fallbackFor: step.stepId,
  };
  return {
    ...outcome,
    messages: [{ topic: plannerTopics.toolCalls, key: run.requestId, value: call }, ...outcome.messages],
  };
}

/** Dispatches a run's steps that became ready and finishes the run when every step is done. */
export function advance(start: RunState, context: PlannerContext): PlannerOutcome {
  const now = context.now();
  const steps = start.steps.map((step) => ({ ...step }));
  const byId = new Map(steps.map((step) => [step.stepId, step]));
  const calls: ToolCall[] = [];
  let changed = true;
  while (changed) {
    changed = false;
    for (const step of steps) {
      if (step.status !== "PENDING") continue;
      const needs = step.needs.map((id) => byId.get(id));
      if (!needs.every((need) => need !== undefined && terminal.has(need.status))) continue;
      changed = true;
      const unmet = needs.find((need) => need !== undefined && need.status !== "SUCCEEDED");
      if (unmet !== undefined) {
        step.status = "SKIPPED";
        step.error = `needs ${unmet.stepId}, which ended ${unmet.status}`;
        continue;
      }
      const data = templateData({ ...start, steps });
      if (step.condition !== null && !evaluate(JSON.parse(step.condition) as Condition, data)) {
        step.status = "SKIPPED";
        step.error = "condition not met";
        continue;
      }
      const argumentsValue = render(JSON.parse(step.argumentsTemplate), data);
      const tool = context.tool(step.tool);
      const problems =
        tool === undefined
          ? [`tool ${step.tool} is not offered by any executor`]
          : context.validator.problems(tool.inputSchema, argumentsValue);
      if (problems.length > 0) {
        step.status = "FAILED";
        step.error = `invalid arguments for ${step.tool}: ${problems.join("; ")}`;
        continue;
      }
      step.status = "DISPATCHED";
      step.attempts += 1;
      step.dispatchedAt = now;
      calls.push({
        requestId: start.requestId,
        tenant: start.tenant,
        stepId: step.stepId,
        tool: step.tool,
        arguments: JSON.stringify(argumentsValue),
        idempotencyKey: `${start.requestId}/${step.stepId}`,
        attempt: step.attempts,
        timeoutMs: step.timeoutMs,
        dispatchedAt: now,
        deadlineAt: start.deadlineAt,
        fallbackFor: null,
      });
    }
  }
  const done = steps.every((step) => terminal.has(step.status));
  const run: RunState = { ...start, steps, status: done ? "COMPLETED" : "RUNNING", updatedAt: now };
  const messages: OutgoingMessage[] = calls.map((call) => ({
    topic: plannerTopics.toolCalls,
    key: call.requestId,
    value: call,
  }));
  messages.push({ topic: plannerTopics.runs, key: run.requestId, value: run });
  if (done) messages.push({ topic: plannerTopics.completedRuns, key: run.requestId, value: completedRun(run, now) });
  return { run, messages };
}

function completedRun(run: RunState, now: number): CompletedRun {
  const denied = run.steps.filter((step) => step.status === "DENIED");
  const failed = run.steps.filter((step) => step.status === "FAILED" || step.status === "TIMED_OUT");
  const outcome = denied.length > 0 ? "REFUSED" : failed.length > 0 ? "FAILED" : "COMPLETED";
  const reasons = [...denied, ...failed].map(
    (step) => `${step.stepId} (${step.tool}) ${step.status}: ${step.error ?? "no reason given"}`,
  );
  return {
    requestId: run.requestId,
    tenant: run.tenant,
    input: run.input,
    workflow: run.workflow,
    metadata: run.metadata,
    outcome,
    error: reasons.length === 0 ? null : reasons.join("; "),
    answerTemplate: run.answerTemplate,
    steps: run.steps.map((step) => ({
      stepId: step.stepId,
      tool: step.tool,
      status: step.status,
      output: step.output,
      error: step.error,
      attempts: step.attempts,
      durationMs: step.durationMs,
    })),
    completedAt: now,
  };
}
