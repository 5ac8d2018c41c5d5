import { context, trace } from "@opentelemetry/api";
import { Counter, type Registry } from "prom-client";
import type { Backbone } from "../../../shared/backbone.ts";
import { BatonError } from "../../../shared/errors.ts";
import { GroupReader, type RawRecord } from "../../../shared/kafka/group-reader.ts";
import type { BatonProducer } from "../../../shared/kafka/producer.ts";
import type { Request } from "../../../shared/schemas/records.ts";
import { signRecord, type Signer } from "../../../shared/security/record-signature.ts";
import { withTenant } from "../../../shared/telemetry/propagation.ts";
import type { Workflow } from "../../planner/workflow-file.ts";
import { CronTimer } from "./cron-timer.ts";
import { decodeTriggerValue } from "./record-decoding.ts";
import {
  cronRequest,
  recordOutcome,
  triggerLabel,
  type TriggerRecord,
  type WorkflowTrigger,
} from "./trigger-requests.ts";
import { defaultCatchUp, scheduleOf } from "./trigger-schema.ts";

/** Consumer group of topic triggers unless told otherwise: every gateway joins it, so each record fires once. */
export const defaultTriggersGroupId = "baton-triggers";

/** Options for {@link startTriggers}. */
export interface TriggersOptions {
  /** Kafka, the registry codec (Avro trigger topics), the tracer and the logger of the process. */
  backbone: Pick<Backbone, "kafka" | "codec" | "tracing" | "logger">;
  /** An idempotent, non-transactional producer: fires are written to baton.requests with it. */
  producer: BatonProducer;
  workflows: ReadonlyMap<string, Workflow>;
  /** The consumer group of topic triggers ({@link defaultTriggersGroupId}); all instances must share it. */
  groupId?: string;
  /** Signs each request, when the policy file declares principals (the planner refuses unsigned ones then). */
  signer?: Signer;
  /** Where the trigger counters are registered (the process's /metrics); none when undefined. */
  registry?: Registry;
  now?: () => number;
}

/** Running triggers. */
export interface Triggers {
  /** The triggers that run, as `<workflow>.<trigger>`. */
  readonly names: readonly string[];
  /** Stops the cron timers and leaves the topic triggers' group, after fires being written are written. */
  stop(): Promise<void>;
}

/** Every trigger the workflows declare. */
export function triggersOf(workflows: ReadonlyMap<string, Workflow>): WorkflowTrigger[] {
  return [...workflows.values()].flatMap((workflow) =>
    workflow.triggers.map((trigger) => ({ workflow: workflow.name, trigger })),
  );
}

/**
 * Starts the workflows' triggers. Cron triggers fire on every instance and topic triggers are read by one member of
 * `groupId` per partition; either way a fire's requestId is derived from its instant or record, so the planner runs
 * each once (docs/decisions/014-triggers.md). Resolves once the timers are armed and the group joined; fails at start
 * naming a trigger topic that does not exist.
 */
export async function startTriggers(options: TriggersOptions): Promise<Triggers> {
  const { backbone, producer } = options;
  const { logger } = backbone;
  const now = options.now ?? Date.now;
  const all = triggersOf(options.workflows);
  const fires =
    options.registry === undefined
      ? undefined
      : new Counter({
          name: "baton_trigger_fires_total",
          help: "Requests written by triggers, by trigger (a cron fire is written by every instance)",
          labelNames: ["trigger"],
          registers: [options.registry],
        });
  const skipped =
    options.registry === undefined
      ? undefined
      : new Counter({
          name: "baton_trigger_records_skipped_total",
          help: "Records on trigger topics that fired nothing, by trigger and reason (not_matching, undecodable, invalid)",
          labelNames: ["trigger", "reason"],
          registers: [options.registry],
        });

  const submit = async (entry: WorkflowTrigger, request: Request): Promise<void> => {
    const span = backbone.tracing.tracer.startSpan(`trigger ${triggerLabel(entry)}`, {
      attributes: { "baton.request_id": request.requestId, "baton.tenant": request.tenant },
    });
    try {
      await context.with(trace.setSpan(withTenant(request.tenant), span), () =>
        producer.send([
          {
            topic: "baton.requests",
            key: request.requestId,
            value: request,
            headers: options.signer === undefined ? {} : signRecord("baton.requests", request, options.signer),
          },
        ]),
      );
    } finally {
      span.end();
    }
    fires?.inc({ trigger: triggerLabel(entry) });
    logger.info({ trigger: triggerLabel(entry), requestId: request.requestId }, "trigger fired");
  };

  const timers = all
    .filter((entry) => entry.trigger.cron !== undefined)
    .map((entry) => {
      const { cron = "", timezone, catchUp = defaultCatchUp } = entry.trigger;
      return new CronTimer({
        schedule: scheduleOf(cron, timezone),
        catchUp,
        logger: logger.child({ trigger: triggerLabel(entry) }),
        now,
        fire: (scheduledAt) => submit(entry, cronRequest(entry, scheduledAt, now())),
      });
    });

  const byTopic = new Map<string, WorkflowTrigger[]>();
  for (const entry of all) {
    if (entry.trigger.topic === undefined) continue;
    byTopic.set(entry.trigger.topic, [...(byTopic.get(entry.trigger.topic) ?? []), entry]);
  }
  const handle = async (raw: RawRecord): Promise<void> => {
    const position = { topic: raw.topic, partition: raw.partition, offset: raw.offset };
    for (const entry of byTopic.get(raw.topic) ?? []) {
      const label = triggerLabel(entry);
      let value: unknown;
      try {
        value = await decodeTriggerValue(entry.trigger.format ?? "json", raw.value, backbone.codec);
      } catch (error) {
        // The registry being away is not the record's fault: the reader handles it again later.
        if (error instanceof BatonError && error.retriable) throw error;
        skipped?.inc({ trigger: label, reason: "undecodable" });
        logger.warn({ trigger: label, ...position, reason: (error as Error).message }, "trigger record skipped");
        continue;
      }
      const record: TriggerRecord = {
        ...position,
        key: raw.key,
        value,
        headers: raw.headers,
        timestamp: raw.timestamp,
      };
      const outcome = recordOutcome(entry, record, now());
      if (outcome.kind === "not-matching") {
        skipped?.inc({ trigger: label, reason: "not_matching" });
        logger.debug({ trigger: label, ...position }, "trigger record does not match");
      } else if (outcome.kind === "invalid") {
        skipped?.inc({ trigger: label, reason: "invalid" });
        logger.warn({ trigger: label, ...position, reason: outcome.reason }, "trigger record skipped");
      } else {
        await submit(entry, outcome.request);
      }
    }
  };
  const reader =
    byTopic.size === 0
      ? undefined
      : new GroupReader({
          kafka: backbone.kafka,
          groupId: options.groupId ?? defaultTriggersGroupId,
          topics: [...byTopic.keys()],
          logger,
          handle,
        });
  try {
    await reader?.start();
  } catch (error) {
    await reader?.stop().catch(() => undefined);
    if (error instanceof BatonError && Array.isArray(error.details.missing)) {
      const missing = new Set(error.details.missing as string[]);
      const declared = all.filter((entry) => missing.has(entry.trigger.topic ?? "")).map(triggerLabel);
      throw new BatonError("CONFIG_INVALID", `${error.message} (read by triggers ${declared.join(", ")})`, {
        cause: error,
      });
    }
    throw error;
  }
  for (const timer of timers) timer.start();
  const names = all.map(triggerLabel);
  logger.info({ triggers: names, topics: [...byTopic.keys()] }, "triggers running");
  return {
    names,
    async stop() {
      await Promise.all(timers.map((timer) => timer.stop()));
      await reader?.stop();
    },
  };
}
