import { Cron } from "croner";
import { z } from "zod";
import { conditionPaths, conditionSchema, templatePaths } from "../../../shared/templates.ts";
import { replayRetentionMs } from "../../../shared/topics.ts";

/** Catch-up when a trigger's declaration says nothing: the latest missed instant, if at most an hour old. */
export const defaultCatchUp = { last: 1, withinMs: 3_600_000 } as const;

/**
 * One entry of a workflow's `triggers:`: either a cron schedule (`cron`, optional `timezone`, `catchUp`) or a topic
 * (`topic`, optional `format`, `match`). Either way `tenant` is fixed here (a record never chooses whose policy
 * applies) and `input` and `metadata` are templates filled from the fire (`fire.*`) and, for topics, the record
 * (`record.key`, `record.value.*`, `record.headers.*`, `record.topic`, `record.partition`, `record.offset`).
 */
export const triggerSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z][a-z0-9-]*$/, "trigger names are lowercase words joined by dashes"),
    cron: z.string().min(1).optional(),
    timezone: z.string().min(1).optional(),
    catchUp: z
      .strictObject({
        last: z.number().int().min(0).max(100),
        withinMs: z.number().int().positive().max(replayRetentionMs, "at most the replay retention (14 days)"),
      })
      .optional(),
    topic: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,249}$/, "a Kafka topic name (letters, digits, '.', '_', '-')")
      .optional(),
    format: z.enum(["json", "avro"]).optional(),
    match: conditionSchema.optional(),
    tenant: z.string().min(1),
    input: z.string().min(1),
    metadata: z.record(z.string(), z.string()).default({}),
  })
  .superRefine((trigger, context) => {
    const problem = (path: string, message: string): void =>
      context.addIssue({ code: "custom", path: [path], message });
    if ((trigger.cron === undefined) === (trigger.topic === undefined)) {
      problem("cron", "a trigger has either cron or topic");
      return;
    }
    const only = trigger.cron === undefined ? ["timezone", "catchUp"] : ["format", "match"];
    for (const key of only) {
      if (trigger[key as keyof typeof trigger] !== undefined)
        problem(key, `only a ${trigger.cron === undefined ? "cron" : "topic"} trigger has ${key}`);
    }
    if (trigger.timezone !== undefined && !isTimeZone(trigger.timezone))
      problem("timezone", `unknown time zone ${trigger.timezone} (an IANA name such as Europe/Berlin, or UTC)`);
    if (trigger.cron !== undefined) {
      const zone = trigger.timezone !== undefined && isTimeZone(trigger.timezone) ? trigger.timezone : undefined;
      const cronProblem = cronExpressionProblem(trigger.cron, zone);
      if (cronProblem !== undefined) problem("cron", cronProblem);
    }
    const roots = trigger.cron === undefined ? ["fire", "record"] : ["fire"];
    const pathProblem = (path: string): boolean => !roots.some((root) => path.startsWith(`${root}.`));
    for (const path of templatePaths(trigger.input).filter(pathProblem))
      problem("input", `refers to ${path}; a ${kindOf(trigger)} trigger's templates read ${roots.join(".*, ")}.*`);
    for (const [key, value] of Object.entries(trigger.metadata))
      for (const path of templatePaths(value).filter(pathProblem))
        context.addIssue({
          code: "custom",
          path: ["metadata", key],
          message: `refers to ${path}; a ${kindOf(trigger)} trigger's templates read ${roots.join(".*, ")}.*`,
        });
    if (trigger.match !== undefined)
      for (const path of conditionPaths(trigger.match).filter((path) => !path.startsWith("record.")))
        problem("match", `reads ${path}; a match reads the record (record.key, record.value.*, record.headers.*)`);
  });

/** A validated trigger declaration. */
export type TriggerDeclaration = z.output<typeof triggerSchema>;

function kindOf(trigger: { cron?: string | undefined }): "cron" | "topic" {
  return trigger.cron === undefined ? "topic" : "cron";
}

/** Whether Intl knows a time zone (croner computes with it). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** What is wrong with a cron expression, in croner's words; undefined when it is valid and fires at all. */
export function cronExpressionProblem(expression: string, timezone: string | undefined): string | undefined {
  try {
    const schedule = scheduleOf(expression, timezone);
    if (schedule.nextRun() === null) return `${expression} never fires`;
    return undefined;
  } catch (error) {
    return `not a valid cron expression: ${(error as Error).message.replace(/^CronPattern: /, "")}`;
  }
}

/** A croner schedule used to compute instants only (paused: Baton keeps its own timer). */
export function scheduleOf(expression: string, timezone: string | undefined): Cron {
  return new Cron(expression, { paused: true, mode: "5-or-6-parts", ...(timezone === undefined ? {} : { timezone }) });
}

/** Problems across a workflow's triggers: names declared twice. */
export function triggerListProblems(triggers: readonly TriggerDeclaration[]): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const trigger of triggers) {
    if (seen.has(trigger.name)) problems.push(`trigger ${trigger.name} is declared twice`);
    seen.add(trigger.name);
  }
  return problems;
}
