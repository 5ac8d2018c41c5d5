import { ExponentialBackoff, handleAll, retry } from "cockatiel";
import { parseConfig } from "../../shared/config.ts";
import type { ToolCall, ToolResult } from "../../shared/schemas/records.ts";
import { KeyedTable } from "../../shared/kafka/keyed-table.ts";
import { retryLadder, stateRetentionMs } from "../../shared/topics.ts";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { injectTraceContext } from "../../shared/telemetry/propagation.ts";
import { withLogContext } from "../../shared/telemetry/log-context.ts";
import { startStageProcess, type StageProcess } from "../../shared/stage-process.ts";
import type { OutgoingMessage } from "../../shared/kafka/producer.ts";
import { executorConfigSchema } from "./config.ts";
import { executeCall, executorTopics } from "./executor.ts";
import { ToolGuard } from "./tool-guard.ts";
import { toolCallErrorType, toolCallStartAttributes } from "../../shared/telemetry/tool-call-attributes.ts";
import { McpConnections, type ToolInvoker } from "./mcp-connections.ts";
import { loadServers, serverLimitsOf, settingsOf, type ToolSettings } from "./servers-file.ts";
import { recordStateLoads } from "../../shared/telemetry/metrics.ts";
import { BatonError } from "../../shared/errors.ts";
import { eventsTopic, progressEvent, withProgressEvents } from "../../shared/progress-events.ts";
import type { Event } from "../../shared/schemas/records.ts";

/** Starts the executor: connects the MCP servers, publishes their catalogues, runs cleared calls. */
export async function runExecutor(env: Record<string, string | undefined>): Promise<StageProcess> {
  const config = parseConfig(executorConfigSchema, env);
  const servers = await loadServers(config.MCP_SERVERS_FILE);
  return startStageProcess<ToolCall>({
    stage: "executor",
    config,
    metricsPort: config.METRICS_PORT,
    // Outputs and input offsets commit together: a stage killed mid-chunk leaves no duplicate behind.
    transactional: true,
    topics: ["baton.allowed-calls"],
    stateTopics: [executorTopics.toolOutcomes, executorTopics.toolIntents],
    partitionsConsumedConcurrently: config.EXECUTOR_CONCURRENCY,
    // Tool calls run off the poll loop, each published when done: a minute-long call holds back nobody.
    maxInFlightPerPartition: config.EXECUTOR_MAX_IN_FLIGHT,
    // Calls run off the poll loop, so heartbeats never wait for them: a dead executor's partitions move in 10 s.
    sessionTimeoutMs: 10_000,
    async setup({ backbone, producer, metrics }) {
      const connections = new McpConnections({ logger: backbone.logger, cwd: config.MCP_SERVERS_CWD });
      // An MCP server restarting as this executor starts (a deploy, a crash) is waited for, not a failed start.
      const starting = retry(handleAll, {
        maxAttempts: 6,
        backoff: new ExponentialBackoff({ initialDelay: 500, maxDelay: 8_000 }),
      });
      starting.onRetry(({ delay, ...reason }) =>
        backbone.logger.warn(
          { err: "error" in reason ? reason.error : undefined, retryInMs: delay },
          "MCP servers not ready; trying again",
        ),
      );
      const catalogues = await starting.execute(async ({ attempt }) => {
        // Each try starts from scratch: a server that restarted meanwhile no longer knows the last try's session.
        if (attempt > 0) await connections.close();
        await connections.connect(servers);
        return connections.catalogues(Date.now());
      });
      await producer.send(
        catalogues.map((catalogue) => ({ topic: "baton.tool-catalogs", key: catalogue.server, value: catalogue })),
      );
      backbone.logger.info(
        { tools: catalogues.flatMap((catalogue) => catalogue.tools.map((tool) => tool.name)) },
        "tool catalogue published",
      );
      const { kafka, codec, logger } = backbone;
      // Idempotency records of the partitions this executor owns (written on the call's partition number).
      const outcomes = new KeyedTable<ToolResult>({
        kafka,
        codec,
        logger,
        topic: executorTopics.toolOutcomes,
        partitioned: true,
      });
      const intents = new KeyedTable<ToolCall>({
        kafka,
        codec,
        logger,
        topic: executorTopics.toolIntents,
        partitioned: true,
      });
      await Promise.all([outcomes.start(), intents.start()]);
      // Idempotency records are kept as long as their topics keep them (a call older than that cannot come back).
      const forget = setInterval(() => {
        outcomes.evictOlderThan(stateRetentionMs);
        intents.evictOlderThan(stateRetentionMs);
      }, 60_000);
      forget.unref();
      const settings = (tool: string): ToolSettings => settingsOf(servers, tool);
      const guard = new ToolGuard(settings, (tool) => serverLimitsOf(servers, tool));
      // Every tool call traced (a CLIENT span whose context the MCP server receives in `_meta`), logged with
      // its tool, counted, timed and tracked in flight; breaker states refreshed as calls end.
      const measured: ToolInvoker = {
        call(tool, args, options) {
          const span = backbone.tracing.tracer.startSpan(`tools/call ${tool}`, {
            kind: SpanKind.CLIENT,
            attributes: {
              ...toolCallStartAttributes({
                tool,
                idempotencyKey: options.meta["baton/idempotencyKey"],
                sessionId: connections.sessionId(tool),
              }),
              "baton.tool": tool,
              "baton.idempotency_key": options.meta["baton/idempotencyKey"] ?? "",
            },
          });
          return context.with(trace.setSpan(context.active(), span), () =>
            withLogContext({ tool }, async () => {
              metrics.toolCallsInFlight.inc({ tool });
              const stop = metrics.toolCallSeconds.startTimer({ tool });
              const startedAt = performance.now();
              try {
                const outcome = await connections.call(tool, args, {
                  ...options,
                  meta: { ...options.meta, ...injectTraceContext() },
                });
                metrics.toolCalls.inc({ tool, status: outcome.status });
                logger.info(
                  {
                    status: outcome.status,
                    ...(outcome.status === "SUCCEEDED" ? {} : { error: outcome.error }),
                    durationMs: Math.round(performance.now() - startedAt),
                  },
                  "tool call done",
                );
                span.setAttribute("baton.tool.status", outcome.status);
                if (outcome.status !== "SUCCEEDED") {
                  span.setAttribute("error.type", toolCallErrorType(outcome) ?? "_OTHER");
                  span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error });
                }
                return outcome;
              } catch (error) {
                logger.warn({ err: error }, "tool call failed");
                span.recordException(error as Error);
                span.setAttribute("error.type", toolCallErrorType({ status: "THREW", error }) ?? "_OTHER");
                span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
                throw error;
              } finally {
                span.end();
                stop();
                metrics.toolCallsInFlight.dec({ tool });
                for (const [name, state] of guard.breakerStates())
                  metrics.breakerOpen.set({ tool: name }, state === "open" ? 1 : 0);
              }
            }),
          );
        },
      };
      // A duplicate of a call still running here (a replayed chunk) waits for that call instead of starting another.
      const inFlight = new Map<string, Promise<OutgoingMessage[]>>();
      return {
        onAssigned: async ({ numbers, added, partitionCount }) => {
          // Records of new (or reopened) partitions are read again, after their previous owner was fenced.
          const reopened = new Set(added);
          const kept = numbers.filter((number) => !reopened.has(number));
          await Promise.all([outcomes.own(kept), intents.own(kept)]);
          await Promise.all([outcomes.own(numbers), intents.own(numbers)]);
          recordStateLoads(metrics, [
            { topic: executorTopics.toolOutcomes, loadStats: () => outcomes.loadStats() },
            { topic: executorTopics.toolIntents, loadStats: () => intents.loadStats() },
          ]);
          // Each executor takes its owned partitions' share of every tool's limits: together they keep them.
          guard.share(numbers.length, partitionCount);
        },
        handler: async (message) => {
          const call = message.value;
          const running = inFlight.get(call.idempotencyKey);
          if (running !== undefined)
            return withProgressEvents(
              { messages: (await running).filter((outgoing) => outgoing.topic !== executorTopics.toolOutcomes) },
              Date.now(),
            );
          // Started and retried are told as they happen, not with the call's transaction (which ends with the call):
          // a follower sees a long call running. A redelivered call may tell it started twice. The call does not wait
          // for its STARTED record: both go out at once, and the outcome waits for it, so STARTED is on baton.events
          // before FINISHED.
          const tell = (event: Event): Promise<void> =>
            producer
              .send([{ topic: eventsTopic, key: call.requestId, value: event, partition: message.partition }])
              .catch((error: unknown) =>
                logger.warn({ err: error, type: event.type }, "could not send a progress event"),
              );
          // The call is in flight from here, before any await: a second delivery of the same key (a partition back
          // to this process while the call runs) must find it in `inFlight` and wait for it, never run it again.
          const told =
            outcomes.get(call.idempotencyKey) === undefined
              ? tell(
                  progressEvent(call.requestId, "STARTED", Date.now(), {
                    stepId: call.stepId,
                    tool: call.tool,
                    attempt: message.attempt,
                  }),
                )
              : Promise.resolve();
          const called = Promise.resolve().then(() =>
            executeCall(call, {
              tools: measured,
              guard,
              settings,
              recorded: (key) => outcomes.get(key),
              started: (key) => intents.get(key) !== undefined,
              recordIntent: async (intended) => {
                await producer.send([
                  {
                    topic: executorTopics.toolIntents,
                    key: intended.idempotencyKey,
                    value: intended,
                    partition: message.partition,
                  },
                ]);
                intents.set(intended.idempotencyKey, intended, message.partition);
              },
              isIdempotent: (tool) => connections.isIdempotent(tool),
              attempt: message.attempt,
              defaultRetryDelaysMs: retryLadder("baton.allowed-calls"),
              now: Date.now,
              traceHeaders: injectTraceContext(),
            }),
          );
          const execution = called.then(
            async (messages) => {
              await told;
              return messages;
            },
            async (error: unknown) => {
              await told;
              throw error;
            },
          );
          inFlight.set(call.idempotencyKey, execution);
          try {
            const messages = await execution.catch(async (error: unknown) => {
              // The call's own retry through the retry topics (executeCall raises it only while a rung is left).
              if (error instanceof BatonError && error.code === "TIMEOUT" && Array.isArray(error.details.retryDelaysMs))
                await tell(
                  progressEvent(call.requestId, "RETRIED", Date.now(), {
                    stepId: call.stepId,
                    tool: call.tool,
                    attempt: message.attempt,
                    detail: error.message,
                  }),
                );
              throw error;
            });
            for (const outgoing of messages) {
              if (outgoing.topic === executorTopics.toolOutcomes)
                outcomes.set(outgoing.key, outgoing.value as ToolResult, message.partition);
            }
            return withProgressEvents({ messages }, Date.now());
          } finally {
            inFlight.delete(call.idempotencyKey);
          }
        },
        shutdown: [
          { name: "mcp", run: () => connections.close() },
          { name: "retention", run: () => Promise.resolve(clearInterval(forget)) },
          { name: "tables", run: async () => void (await Promise.all([outcomes.stop(), intents.stop()])) },
        ],
      };
    },
  });
}
