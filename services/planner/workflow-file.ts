import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { BatonError } from "../../shared/errors.ts";
import { describeIssues, parseYaml } from "../../shared/declarative-file.ts";
import { conditionPaths, conditionSchema, referencedSteps, templatePaths } from "../../shared/templates.ts";
import { triggerListProblems, triggerSchema } from "../gateway/triggers/trigger-schema.ts";

const stepId = z.string().regex(/^[a-z][a-z0-9-]*$/, "step ids are lowercase words joined by dashes");
const toolName = z.string().regex(/^[A-Za-z0-9_-]+\/[A-Za-z0-9_.-]+$/, "tools are named <server>/<tool>");

const answerPartSchema = z.strictObject({ text: z.string().min(1), when: conditionSchema.optional() });

/** The zod schema of a workflow file (workflows/*.yaml). */
export const workflowSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, "workflow names are lowercase words joined by dashes"),
  description: z.string().default(""),
  match: z
    .strictObject({
      keywords: z.array(z.string().min(1)).min(1),
      priority: z.number().int().default(0),
    })
    .optional(),
  steps: z
    .array(
      z.strictObject({
        id: stepId,
        tool: toolName,
        needs: z.array(stepId).default([]),
        when: conditionSchema.optional(),
        arguments: z.record(z.string(), z.unknown()).default({}),
        timeoutMs: z.number().int().positive().max(3_600_000).default(30_000),
      }),
    )
    .min(1),
  answer: z.array(answerPartSchema).default([]),
  /** After this long the run is answered FAILED with what did complete; the planner's default when unset. */
  deadlineMs: z.number().int().positive().optional(),
  /** Cron schedules and topics that submit this workflow (services/gateway/triggers); the planner ignores them. */
  triggers: z.array(triggerSchema).default([]),
});

/** A validated workflow. */
export type Workflow = z.output<typeof workflowSchema>;
/** One step of a workflow. */
export type WorkflowStep = Workflow["steps"][number];
/** One part of a workflow's answer template. */
export type AnswerPart = z.output<typeof answerPartSchema>;

/** Problems with a workflow's step graph: duplicate ids, unknown needs, references to steps not needed, cycles. */
export function graphProblems(workflow: Pick<Workflow, "steps">): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const step of workflow.steps) {
    if (ids.has(step.id)) problems.push(`step ${step.id} is declared twice`);
    ids.add(step.id);
  }
  const byId = new Map(workflow.steps.map((step) => [step.id, step]));
  for (const step of workflow.steps) {
    for (const need of step.needs) if (!ids.has(need)) problems.push(`step ${step.id} needs unknown step ${need}`);
    const paths = [...templatePaths(step.arguments), ...(step.when === undefined ? [] : conditionPaths(step.when))];
    for (const referenced of referencedSteps(paths)) {
      if (!upstream(step.id, byId).has(referenced)) {
        problems.push(`step ${step.id} refers to steps.${referenced} but does not (transitively) need it`);
      }
    }
  }
  return [...problems, ...cycleProblems(workflow, byId)];
}

/** Answer parts may only refer to declared steps; a typo would otherwise render empty. */
function answerProblems(workflow: Pick<Workflow, "steps" | "answer">): string[] {
  const ids = new Set(workflow.steps.map((step) => step.id));
  return workflow.answer.flatMap((part, index) =>
    referencedSteps([...templatePaths(part.text), ...(part.when === undefined ? [] : conditionPaths(part.when))])
      .filter((id) => !ids.has(id))
      .map((id) => `answer part ${index + 1} refers to unknown step ${id}`),
  );
}

function cycleProblems(workflow: Pick<Workflow, "steps">, byId: Map<string, { needs: string[] }>): string[] {
  const problems: string[] = [];
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (id: string, trail: string[]): void => {
    if (done.has(id)) return;
    if (visiting.has(id)) {
      problems.push(`steps form a cycle: ${[...trail, id].join(" -> ")}`);
      return;
    }
    visiting.add(id);
    for (const need of byId.get(id)?.needs ?? []) visit(need, [...trail, id]);
    visiting.delete(id);
    done.add(id);
  };
  for (const step of workflow.steps) visit(step.id, []);
  return problems;
}

function upstream(id: string, byId: Map<string, { needs: string[] }>, seen = new Set<string>()): Set<string> {
  for (const need of byId.get(id)?.needs ?? []) {
    if (seen.has(need)) continue;
    seen.add(need);
    upstream(need, byId, seen);
  }
  return seen;
}

/** Validates a parsed workflow (from a file or an LLM): schema, step graph and answer references. */
export function parseWorkflowObject(raw: unknown): { workflow: Workflow } | { problems: string[] } {
  const result = workflowSchema.safeParse(raw);
  if (!result.success) {
    return { problems: describeIssues(result.error.issues) };
  }
  const problems = [
    ...graphProblems(result.data),
    ...answerProblems(result.data),
    ...triggerListProblems(result.data.triggers),
  ];
  if (problems.length > 0) return { problems };
  return { workflow: result.data };
}

/** Parses and validates one workflow file's text; every problem is named with the file. */
export function parseWorkflow(text: string, file: string): Workflow {
  const raw = parseYaml(text, file);
  const checked = parseWorkflowObject(raw);
  if ("problems" in checked) throw new BatonError("CONFIG_INVALID", `${file}:\n  ${checked.problems.join("\n  ")}`);
  return checked.workflow;
}

/** Loads every *.yaml of the given folders, failing at start on any invalid file or duplicate name. */
export async function loadWorkflows(directories: readonly string[]): Promise<Map<string, Workflow>> {
  const files: string[] = [];
  for (const directory of directories) {
    const names = await readdir(directory).catch((error: unknown) => {
      throw new BatonError("CONFIG_INVALID", `cannot read workflows folder ${directory}: ${(error as Error).message}`);
    });
    files.push(
      ...names
        .filter((name) => /\.ya?ml$/.test(name))
        .sort()
        .map((name) => join(directory, name)),
    );
  }
  const workflows = new Map<string, Workflow>();
  const problems: string[] = [];
  for (const path of files) {
    try {
      const workflow = parseWorkflow(await readFile(path, "utf8"), path);
      if (workflows.has(workflow.name)) problems.push(`${path}: workflow ${workflow.name} is declared twice`);
      workflows.set(workflow.name, workflow);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0) throw new BatonError("CONFIG_INVALID", `invalid workflows:\n${problems.join("\n")}`);
  if (workflows.size === 0) throw new BatonError("CONFIG_INVALID", `no workflows in ${directories.join(", ")}`);
  return workflows;
}
