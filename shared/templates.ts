import { z } from "zod";

/**
 * `{{ path }}` references and conditions over a run's data (`request.*`, `steps.<id>.output.*`,
 * `steps.<id>.status`), shared by workflow arguments, step conditions and answer templates.
 */

const reference = /\{\{\s*([A-Za-z0-9_.-]+)\s*(?:\|\s*(number|string|json)\s*)?\}\}/g;
const wholeReference = /^\{\{\s*([A-Za-z0-9_.-]+)\s*(?:\|\s*(number|string|json)\s*)?\}\}$/;

/**
 * Applies a reference's conversion (`{{ path | number }}`): metadata values are strings, tool arguments may not be;
 * `json` reads a string holding JSON as its value (undefined when it holds none).
 */
function convert(value: unknown, conversion: string | undefined): unknown {
  if (conversion === "number") {
    const number =
      typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : Number.NaN;
    return Number.isFinite(number) ? number : undefined;
  }
  if (conversion === "string") return value === undefined || value === null ? value : asText(value);
  if (conversion === "json") {
    if (typeof value !== "string") return undefined;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return undefined;
    }
  }
  return value;
}

/** Reads a dotted path from nested objects; undefined when any part is missing. */
export function lookup(data: unknown, path: string): unknown {
  let current: unknown = data;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** Paths a template refers to that have no value in the data. */
export function missingReferences(template: unknown, data: unknown): string[] {
  const missing: string[] = [];
  visitStrings(template, (text) => {
    for (const match of text.matchAll(reference)) {
      const path = match[1] ?? "";
      if (lookup(data, path) === undefined) missing.push(path);
    }
  });
  return missing;
}

function visitStrings(value: unknown, visit: (text: string) => void): void {
  if (typeof value === "string") visit(value);
  else if (Array.isArray(value)) for (const item of value) visitStrings(item, visit);
  else if (value !== null && typeof value === "object")
    for (const item of Object.values(value)) visitStrings(item, visit);
}

function asText(value: unknown): string {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * Fills references in a JSON-like template. A string that is exactly one reference takes the referenced
 * value as it is (a number stays a number); references inside longer strings are written as text.
 */
export function render(template: unknown, data: unknown): unknown {
  if (typeof template === "string") {
    const whole = wholeReference.exec(template);
    if (whole !== null) return convert(lookup(data, whole[1] ?? ""), whole[2]);
    return template.replace(reference, (_, path: string, conversion: string | undefined) =>
      asText(convert(lookup(data, path), conversion)),
    );
  }
  if (Array.isArray(template)) return template.map((item) => render(item, data));
  if (template !== null && typeof template === "object") {
    return Object.fromEntries(Object.entries(template).map(([key, value]) => [key, render(value, data)]));
  }
  return template;
}

/** A condition on a run's data: a comparison on one path, or all/any/not of conditions. */
export type Condition =
  | { path: string; equals: unknown }
  | { path: string; notEquals: unknown }
  | { path: string; exists: boolean }
  | { path: string; in: unknown[] }
  | { path: string; greaterThan: number }
  | { path: string; lessThan: number }
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition };

/** zod schema of {@link Condition}, for validating workflow files. */
export const conditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.union([
    z.strictObject({ path: z.string().min(1), equals: z.unknown() }),
    z.strictObject({ path: z.string().min(1), notEquals: z.unknown() }),
    z.strictObject({ path: z.string().min(1), exists: z.boolean() }),
    z.strictObject({ path: z.string().min(1), in: z.array(z.unknown()) }),
    z.strictObject({ path: z.string().min(1), greaterThan: z.number() }),
    z.strictObject({ path: z.string().min(1), lessThan: z.number() }),
    z.strictObject({ all: z.array(conditionSchema).min(1) }),
    z.strictObject({ any: z.array(conditionSchema).min(1) }),
    z.strictObject({ not: conditionSchema }),
  ]),
);

/** Evaluates a condition against a run's data. */
export function evaluate(condition: Condition, data: unknown): boolean {
  if ("all" in condition) return condition.all.every((item) => evaluate(item, data));
  if ("any" in condition) return condition.any.some((item) => evaluate(item, data));
  if ("not" in condition) return !evaluate(condition.not, data);
  const value = lookup(data, condition.path);
  if ("equals" in condition) return value === condition.equals;
  if ("notEquals" in condition) return value !== condition.notEquals;
  if ("exists" in condition) return (value !== undefined && value !== null) === condition.exists;
  if ("greaterThan" in condition) return typeof value === "number" && value > condition.greaterThan;
  if ("lessThan" in condition) return typeof value === "number" && value < condition.lessThan;
  return condition.in.includes(value);
}

/** Paths a condition reads, to check at load that they name known steps. */
export function conditionPaths(condition: Condition): string[] {
  if ("all" in condition) return condition.all.flatMap(conditionPaths);
  if ("any" in condition) return condition.any.flatMap(conditionPaths);
  if ("not" in condition) return conditionPaths(condition.not);
  return [condition.path];
}

/** Step ids a template or a list of paths refers to through `steps.<id>`. */
export function referencedSteps(paths: string[]): string[] {
  return [...new Set(paths.filter((path) => path.startsWith("steps.")).map((path) => path.split(".")[1] ?? ""))];
}

/** Every reference path inside a JSON-like template. */
export function templatePaths(template: unknown): string[] {
  const paths: string[] = [];
  visitStrings(template, (text) => {
    for (const match of text.matchAll(reference)) paths.push(match[1] ?? "");
  });
  return paths;
}
