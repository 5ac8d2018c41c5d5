import { parse } from "yaml";
import type { z } from "zod";
import { BatonError } from "./errors.ts";

/** zod problems as `path: message` lines, the way every Baton file and setting reports them. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
}

/** Parses the YAML of a declarative file (workflows, policies, servers); bad YAML fails naming the file. */
export function parseYaml(text: string, file: string): unknown {
  try {
    return parse(text) as unknown;
  } catch (error) {
    throw new BatonError("CONFIG_INVALID", `${file}: not valid YAML: ${(error as Error).message}`);
  }
}

/** Parses and validates a declarative file's text against its schema, naming the file and every problem. */
export function parseDeclarativeFile<Schema extends z.ZodType>(
  text: string,
  file: string,
  schema: Schema,
): z.output<Schema> {
  const result = schema.safeParse(parseYaml(text, file));
  if (!result.success)
    throw new BatonError("CONFIG_INVALID", `${file}:\n  ${describeIssues(result.error.issues).join("\n  ")}`);
  return result.data;
}
