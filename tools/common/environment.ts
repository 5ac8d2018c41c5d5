import type { z } from "zod";

/** Raised when the environment fails a server's config schema; names every bad key at once. */
export class ConfigurationError extends Error {
  readonly keys: string[];
  readonly problems: string[];

  constructor(problems: string[], keys: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigurationError";
    this.problems = problems;
    this.keys = keys;
  }
}

/** Parses the environment against a zod schema, throwing one {@link ConfigurationError} for all bad keys. */
export function parseEnvironment<Schema extends z.ZodType>(
  schema: Schema,
  environment: Record<string, string | undefined>,
): z.output<Schema> {
  const result = schema.safeParse(environment);
  if (result.success) return result.data;
  const keyOf = (issue: z.core.$ZodIssue): string => String(issue.path[0] ?? "(root)");
  const problems = result.error.issues.map((issue) => `${keyOf(issue)}: ${issue.message}`);
  throw new ConfigurationError(problems, [...new Set(result.error.issues.map(keyOf))]);
}

/** Like {@link parseEnvironment}, but a failure writes one JSON line to stderr and exits 1. */
export function parseEnvironmentOrExit<Schema extends z.ZodType>(
  service: string,
  schema: Schema,
  environment: Record<string, string | undefined>,
): z.output<Schema> {
  try {
    return parseEnvironment(schema, environment);
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    const line = {
      level: 60,
      time: new Date().toISOString(),
      service,
      msg: "invalid configuration",
      keys: error.keys,
      problems: error.problems,
    };
    process.stderr.write(`${JSON.stringify(line)}\n`);
    process.exit(1);
  }
}
