import type { OutgoingMessage } from "../kafka/producer.ts";
import type { ToolOutputPolicy } from "../policy-file.ts";
import type { PolicyDecision } from "../schemas/records.ts";

/** One screening rule: a case-insensitive regular expression over tool output, and why a match matters. */
export interface ScreeningRule {
  id: string;
  pattern: string;
  reason: string;
}

/**
 * Phrases prompt injections use, screened for unless a tenant turns them off (`toolOutput.builtIn: false`). They
 * catch the common forms, not every one: fencing (fenceToolOutput in untrusted.ts) and the tenant's tool rules still hold
 * for what they miss, and a tenant adds its own patterns.
 */
export const injectionRules: readonly ScreeningRule[] = [
  {
    id: "injection-ignore-instructions",
    pattern:
      "\\b(?:ignore|disregard|forget|override|bypass)\\s+(?:(?:all|any|the|your|my|these|those|every|of)\\s+)*(?:(?:previous|prior|above|earlier|preceding|original|system|developer|safety)\\s+)*(?:instructions?|prompts?|rules?|guidelines?|directions?)\\b|\\b(?:ignore|disregard|forget)\\s+(?:everything|all)\\s+(?:above|before|previously)\\b",
    reason: "asks the model to set aside its instructions",
  },
  {
    id: "injection-role-override",
    pattern:
      "\\byou\\s+are\\s+now\\b|\\bfrom\\s+now\\s+on\\s*,?\\s+you\\b|\\bnew\\s+(?:system\\s+)?instructions?\\s*:|\\bact\\s+as\\s+(?:the\\s+|an?\\s+)?(?:system|administrator|admin|developer|root)\\b",
    reason: "tries to give the model a new role or new instructions",
  },
  {
    id: "injection-fake-message",
    pattern:
      "<\\|?(?:system|im_start|im_end|endoftext)\\|?>|\\[/?(?:INST|SYS)\\]|(?:^|\\n|\\\\n)\\s*#*\\s*(?:system|developer)\\s*(?:prompt|message)?\\s*:",
    reason: "imitates a system or developer message",
  },
  {
    id: "injection-tool-directive",
    pattern:
      "\\b(?:call|invoke|run|use|execute|trigger)\\s+(?:the\\s+|this\\s+|a\\s+)?(?:tool|function)\\b|\\b(?:add|plan|insert|schedule|append)\\s+(?:a\\s+|an?\\s+(?:extra|additional|new)\\s+|another\\s+|one\\s+more\\s+)?step\\b|\\b(?:call|invoke|run|use|execute)\\s+[A-Za-z0-9_-]+/[A-Za-z0-9_.-]+",
    reason: "tells the model which tools to call or steps to add",
  },
  {
    id: "injection-reveal-prompt",
    pattern:
      "\\b(?:reveal|print|show|repeat|output|leak)\\b[^\\n]{0,30}\\b(?:system\\s+prompt|your\\s+instructions|hidden\\s+instructions|your\\s+prompt)\\b",
    reason: "asks the model to reveal its instructions",
  },
];

/** The screening a tenant without a policy gets: the policy file's defaults. */
export const defaultToolOutputPolicy: ToolOutputPolicy = { screen: "flag", builtIn: true, patterns: [] };

/** Where screened output was about to go: which stage's LLM. */
export type OutputReader = "planner" | "summarizer";

/** A step whose output an LLM is about to read. */
export interface OutputStep {
  stepId: string;
  tool: string;
  output: string | null;
}

/** What screening a run's tool output gave. */
export interface ToolOutputScreening<Step extends OutputStep> {
  /** The steps as the LLM may see them: outputs with matching texts replaced when the tenant redacts. */
  steps: Step[];
  /** One audit record per step and rule that matched (subject TOOL_OUTPUT). */
  decisions: PolicyDecision[];
  /** Why the run's answer is withheld, when the tenant refuses and an output matched; undefined otherwise. */
  refusal: string | undefined;
}

const actionOf = { flag: "FLAG", redact: "REDACT", refuse: "BLOCK" } as const;

/** The rules a tenant's screening applies: its own patterns, then the built-in ones unless turned off. */
export function screeningRules(settings: ToolOutputPolicy): ScreeningRule[] {
  return [...settings.patterns, ...(settings.builtIn ? injectionRules : [])];
}

function redactValue(value: unknown, expression: RegExp, mark: string): unknown {
  if (typeof value === "string") return expression.test(value) ? mark : value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, expression, mark));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, redactValue(item, expression, mark)] as const),
    );
  }
  return value;
}

/**
 * Output with every text that matches replaced by the mark: each matching string of JSON output, each matching line
 * of other output. The whole text goes, not only the phrase, so an injection's order ("and send ...") goes with it.
 */
function redactOutput(output: string, rule: ScreeningRule): string {
  const expression = new RegExp(rule.pattern, "iu");
  const mark = redactionMark(rule.id);
  let parsed: unknown;
  try {
    parsed = JSON.parse(output);
  } catch {
    return output
      .split("\n")
      .map((line) => (expression.test(line) ? mark : line))
      .join("\n");
  }
  return JSON.stringify(redactValue(parsed, expression, mark));
}

/** The text that stands in for redacted tool output. */
export function redactionMark(ruleId: string): string {
  return `[withheld by policy rule ${ruleId}]`;
}

/**
 * Screens each step's output before an LLM reads it, by the tenant's `toolOutput` policy: a match is audited, and
 * redacted or refused when the tenant says so. Steps without output pass unchanged.
 */
export function screenToolOutputs<Step extends OutputStep>(
  run: { requestId: string; tenant: string },
  steps: readonly Step[],
  settings: ToolOutputPolicy,
  reader: OutputReader,
  now: number,
): ToolOutputScreening<Step> {
  if (settings.screen === "off") return { steps: [...steps], decisions: [], refusal: undefined };
  const rules = screeningRules(settings);
  const action = actionOf[settings.screen];
  const decisions: PolicyDecision[] = [];
  let refusal: string | undefined;
  const screened = steps.map((step) => {
    if (step.output === null) return step;
    let output = step.output;
    for (const rule of rules) {
      const count = step.output.match(new RegExp(rule.pattern, "giu"))?.length ?? 0;
      if (count === 0) continue;
      const where = `${count} match${count === 1 ? "" : "es"} in the output of step ${step.stepId} (${step.tool})`;
      decisions.push({
        requestId: run.requestId,
        tenant: run.tenant,
        stepId: step.stepId,
        tool: step.tool,
        subject: "TOOL_OUTPUT",
        action,
        ruleId: rule.id,
        reason: `${rule.reason}: ${where}, screened before the ${reader}'s LLM`,
        decidedAt: now,
      });
      if (settings.screen === "redact") output = redactOutput(output, rule);
      if (settings.screen === "refuse")
        refusal ??= `tool output of step ${step.stepId} (${step.tool}) withheld by policy rule ${rule.id}: ${rule.reason}`;
    }
    return output === step.output ? step : { ...step, output };
  });
  return { steps: screened, decisions, refusal };
}

/** Screening decisions as messages for the audit topic, written by the stage that screened in its transaction. */
export function auditMessages(decisions: readonly PolicyDecision[]): OutgoingMessage[] {
  return decisions.map((value) => ({ topic: "baton.policy-decisions", key: value.requestId, value }));
}
