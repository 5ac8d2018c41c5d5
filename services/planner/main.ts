import { parseConfig } from "../../shared/config.ts";
import { KeyedTable } from "../../shared/kafka/keyed-table.ts";
import { loadPolicy } from "../../shared/policy-file.ts";
import type {
  Request,
  RunDeadline,
  RunState,
  ToolCatalog,
  ToolDescription,
  ToolResult,
} from "../../shared/schemas/records.ts";
import { startStageProcess, type StageProcess } from "../../shared/stage-process.ts";
import { ArgumentValidator } from "./argument-validator.ts";
import { plannerConfigSchema } from "./config.ts";
import { expireRun, plannerTopics, recordResult, refuseWriter, startRun, type PlannerContext } from "./planner.ts";
import { Principals } from "../../shared/security/principals.ts";
import { loadWorkflows } from "./workflow-file.ts";
import { planWithLlm } from "./llm-planner.ts";
import { applyFollowUp, followUpWithLlm, mayFollowUp } from "./llm-follow-up.ts";
import { createLlmClient } from "../../shared/llm/llm-client.ts";
import { stateRetentionMs } from "../../shared/topics.ts";
import { recordStateLoads } from "../../shared/telemetry/metrics.ts";
import { withProgressEvents } from "../../shared/progress-events.ts";

/** Starts the planner: requests and tool results in; tool calls, run state and completed runs out. */
export async function runPlanner(env: Record<string, string | undefined>): Promise<StageProcess> {
  const config = parseConfig(plannerConfigSchema, env);
  const workflows = await loadWorkflows(config.WORKFLOWS_DIR);
  const policy = await loadPolicy(config.POLICY_FILE);
  // With principals in the policy file, only requests signed by one bound to their tenant are planned.
  const principals = new Principals(policy);
  return startStageProcess<Request | ToolResult | RunDeadline>({
    stage: "planner",
    config,
    metricsPort: config.METRICS_PORT,
    // An LLM call runs inside the handler, so the group must wait for it (kafkajs heartbeats between chunks).
    sessionTimeoutMs: config.LLM_PROVIDER === "none" ? 10_000 : Math.max(10_000, config.LLM_TIMEOUT_MS * 2 + 5_000),
    topics: ["baton.requests", "baton.tool-results", "baton.run-deadlines"],
    stateTopics: [plannerTopics.runs],
    partitionsConsumedConcurrently: config.PLANNER_CONCURRENCY,
    // A run's new state, the calls it dispatches and the input's offset commit together or not at all.
    transactional: true,
    async setup({ backbone, producer, metrics }) {
      const { kafka, codec, logger } = backbone;
      // Runs still running with a deadline, kept as the table changes, so the sweep never walks finished runs. The
      // table holds the runs of the partitions this planner owns, so each planner sweeps its own runs.
      const deadlines = new Map<string, { deadlineAt: number; partition: number }>();
      const signalled = new Set<string>();
      const runs = new KeyedTable<RunState>({
        kafka,
        codec,
        logger,
        topic: plannerTopics.runs,
        partitioned: true,
        onChange: (requestId, run, partition) => {
          if (run?.status === "RUNNING" && run.deadlineAt !== null)
            deadlines.set(requestId, { deadlineAt: run.deadlineAt, partition });
          else {
            deadlines.delete(requestId);
            signalled.delete(requestId);
          }
        },
      });
      const catalogues = new KeyedTable<ToolCatalog>({ kafka, codec, logger, topic: "baton.tool-catalogs" });
      await Promise.all([runs.start(), catalogues.start()]);
      const tool = (name: string): ToolDescription | undefined => {
        const catalogue = catalogues.get(name.split("/")[0] ?? "");
        return catalogue?.tools.find((candidate) => candidate.name === name);
      };
      const context: PlannerContext = {
        workflows,
        tenants: new Set(Object.keys(policy.tenants)),
        tool,
        validator: new ArgumentValidator(),
        defaultDeadlineMs: config.PLANNER_DEADLINE_MS,
        now: Date.now,
      };
      // A planner looks for its runs past their deadline and signals each on the run's partition, which it owns.
      const sweep = setInterval(() => {
        const now = Date.now();
        const expired: Array<{ deadline: RunDeadline; partition: number }> = [];
        for (const [requestId, { deadlineAt, partition }] of deadlines) {
          if (deadlineAt > now || signalled.has(requestId)) continue;
          const run = runs.get(requestId);
          if (run?.status !== "RUNNING" || run.deadlineAt === null) continue;
          signalled.add(requestId);
          expired.push({ deadline: { requestId, deadlineAt: run.deadlineAt }, partition });
        }
        if (expired.length === 0) return;
        producer
          .send(
            expired.map(({ deadline, partition }) => ({
              topic: "baton.run-deadlines",
              key: deadline.requestId,
              value: deadline,
              partition,
            })),
          )
          .catch((error: unknown) => {
            for (const { deadline } of expired) signalled.delete(deadline.requestId);
            logger.warn({ err: error }, "could not signal expired runs; will try again");
          });
      }, 250);
      sweep.unref();
      // Finished runs are forgotten after the state retention, as baton.runs forgets them (running ones are kept).
      const forget = setInterval(() => {
        const evicted = runs.evictOlderThan(stateRetentionMs, (run) => run.status === "RUNNING");
        if (evicted > 0) logger.info({ evicted }, "forgot finished runs past the retention");
      }, 60_000);
      forget.unref();
      const catalogue = (): ToolDescription[] => [...catalogues.entries()].flatMap(([, entry]) => entry.tools);
      const llm = createLlmClient(config);
      if (llm !== undefined) logger.info({ provider: config.LLM_PROVIDER, model: llm.model }, "planning with an LLM");
      // A run's new state is visible to later messages of its chunk at once, but reaches the table only when the
      // chunk's transaction commits; an aborted chunk's states are dropped, so its replay starts from Kafka's.
      const pending = new Map<number, Map<string, RunState>>();
      const runOf = (requestId: string, partition: number): RunState | undefined =>
        pending.get(partition)?.get(requestId) ?? runs.get(requestId);
      // A run's new state: visible to its chunk's later messages now, in the table once the chunk commits.
      const afterCommitOf = (run: RunState | undefined, partition: number): { afterCommit?: () => void } => {
        if (run === undefined) return {};
        const partitionRuns = pending.get(partition) ?? new Map<string, RunState>();
        partitionRuns.set(run.requestId, run);
        pending.set(partition, partitionRuns);
        return {
          afterCommit: () => {
            runs.set(run.requestId, run, partition);
            if (partitionRuns.get(run.requestId) === run) partitionRuns.delete(run.requestId);
          },
        };
      };
      return {
        onAssigned: async ({ numbers, added }) => {
          // Runs of partitions given up are dropped; those of new (or reopened) ones are read again from baton.runs,
          // after their previous owner was fenced, so this planner continues them from their last committed state.
          pending.clear();
          const reopened = new Set(added);
          await runs.own(numbers.filter((number) => !reopened.has(number)));
          await runs.own(numbers);
          recordStateLoads(metrics, [{ topic: plannerTopics.runs, loadStats: () => runs.loadStats() }]);
        },
        onChunkAborted: (_topic, partition) => {
          pending.delete(partition);
        },
        handler: async (message) => {
          let outcome;
          if (message.topic === "baton.requests") {
            const request = message.value as Request;
            const existing = runOf(request.requestId, message.partition);
            const writer = principals.check(message.topic, request, message.headers, request.tenant, "submit");
            if ("problem" in writer) {
              const refused = refuseWriter(request, existing, writer.problem, Date.now());
              logger.warn({ requestId: request.requestId, problem: writer.problem }, "request refused: its writer");
              return withProgressEvents(
                { messages: refused.messages, ...afterCommitOf(refused.run, message.partition) },
                Date.now(),
              );
            }
            const tenant = policy.tenants[request.tenant];
            const llmPlan =
              llm !== undefined && request.workflow === null && existing === undefined && tenant !== undefined
                ? await planWithLlm(request, catalogue(), workflows, llm, tenant)
                : undefined;
            outcome = startRun(request, existing, context, llmPlan);
          } else if (message.topic === "baton.run-deadlines") {
            const deadline = message.value as RunDeadline;
            outcome = expireRun(deadline, runOf(deadline.requestId, message.partition), context);
          } else {
            const result = message.value as ToolResult;
            outcome = recordResult(result, runOf(result.requestId, message.partition), context);
            const done = outcome.run;
            const tenant = done === undefined ? undefined : policy.tenants[done.tenant];
            if (
              llm !== undefined &&
              done !== undefined &&
              tenant !== undefined &&
              mayFollowUp(done, config.PLANNER_LLM_FOLLOW_UPS)
            ) {
              const followUp = await followUpWithLlm(done, catalogue(), llm, tenant, Date.now());
              if (followUp.kind === "invalid")
                logger.warn({ requestId: done.requestId, error: followUp.error }, "LLM follow-up ignored");
              outcome = applyFollowUp(outcome, followUp, context);
            }
          }
          return withProgressEvents(
            { messages: outcome.messages, ...afterCommitOf(outcome.run, message.partition) },
            Date.now(),
          );
        },
        shutdown: [
          { name: "deadline sweep", run: () => Promise.resolve(clearInterval(sweep)) },
          { name: "retention", run: () => Promise.resolve(clearInterval(forget)) },
          { name: "tables", run: async () => void (await Promise.all([runs.stop(), catalogues.stop()])) },
        ],
      };
    },
  });
}
