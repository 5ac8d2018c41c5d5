import { z } from "zod";
import { BatonError } from "./errors.ts";
import { fromRoot } from "./paths.ts";
import { securityConfigProblems, securityConfigShape, type SecurityConfig } from "./security/security-config.ts";

/**
 * OpenTelemetry's standard sampler and batch-export variables. By default a tenth of new traces is kept and every
 * stage follows the sampled flag its input carries (see docs/decisions/008-bounded-tracing.md); exports wait at most
 * OTEL_BSP_EXPORT_TIMEOUT ms and at most OTEL_BSP_MAX_QUEUE_SIZE finished spans wait for one (more are dropped).
 */
function traceSamplingAndExportKeys() {
  return {
    OTEL_TRACES_SAMPLER: z
      .enum([
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
      ])
      .default("parentbased_traceidratio"),
    OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(0.1),
    OTEL_BSP_MAX_QUEUE_SIZE: z.coerce.number().int().positive().default(2048),
    OTEL_BSP_EXPORT_TIMEOUT: z.coerce.number().int().positive().default(5000),
  };
}

/**
 * Settings every Baton process shares: where Kafka, the registry and the trace backend are, and how to authenticate
 * to them (shared/security/security-config.ts).
 */
export const backboneConfigSchema = z.object({
  KAFKA_BROKERS: z
    .string()
    .default("127.0.0.1:9092")
    .transform((value) => value.split(",").map((broker) => broker.trim()))
    .pipe(z.array(z.string().regex(/^[^:\s]+:\d+$/, "expected host:port[,host:port…]")).min(1)),
  KAFKA_CLIENT_ID: z.string().min(1).default("baton"),
  SCHEMA_REGISTRY_URL: z.url().default("http://127.0.0.1:8081/apis/ccompat/v7"),
  BATON_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  OTEL_TRACES_EXPORTER: z.enum(["zipkin", "otlp", "console", "none"]).default("zipkin"),
  OTEL_EXPORTER_ZIPKIN_ENDPOINT: z.url().default("http://127.0.0.1:9411/api/v2/spans"),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  ...securityConfigShape,
  ...traceSamplingAndExportKeys(),
});

/** The parsed backbone settings. */
export type BackboneConfig = z.output<typeof backboneConfigSchema>;

/**
 * Parses the environment once against a zod schema. A failure names every bad key in one error,
 * so a misconfigured service stops at start saying all that is wrong, not the first thing. Schemas built on the
 * backbone's also get its cross-key security checks (a SASL mechanism without a user, half a client certificate).
 */
export function parseConfig<Schema extends z.ZodType>(
  schema: Schema,
  env: Record<string, string | undefined>,
): z.output<Schema> {
  return parseConfigs([schema], env)[0];
}

/**
 * Parses the environment against the schemas of a process made of parts with settings of their own (the gateway
 * and its MCP server), as {@link parseConfig} does one: a failure names every bad key of all of them in one error,
 * each problem once.
 */
export function parseConfigs<const Schemas extends readonly z.ZodType[]>(
  schemas: Schemas,
  env: Record<string, string | undefined>,
): { [Index in keyof Schemas]: z.output<Schemas[Index]> } {
  const keyOf = (issue: z.core.$ZodIssue): string => String(issue.path[0] ?? "(root)");
  const parsed: unknown[] = [];
  const lines = new Set<string>();
  const keys = new Set<string>();
  for (const schema of schemas) {
    const result = schema.safeParse(env);
    const problems = result.success
      ? isSecurityConfig(result.data)
        ? securityConfigProblems(result.data)
        : []
      : result.error.issues.map((issue) => ({ key: keyOf(issue), message: issue.message }));
    for (const problem of problems) {
      lines.add(`${problem.key}: ${problem.message}`);
      keys.add(problem.key);
    }
    if (result.success) parsed.push(result.data);
  }
  if (lines.size === 0) return parsed as { [Index in keyof Schemas]: z.output<Schemas[Index]> };
  throw new BatonError("CONFIG_INVALID", `invalid configuration:\n  ${[...lines].join("\n  ")}`, {
    details: { keys: [...keys] },
  });
}

/** Whether a parsed config holds the backbone's security keys (KAFKA_TLS always has a value there). */
function isSecurityConfig(data: unknown): data is SecurityConfig {
  return typeof data === "object" && data !== null && "KAFKA_TLS" in data;
}

/**
 * Folders of workflow files, comma-separated (default: the repository's workflows/), as a list: the planner, the
 * MCP server and the triggers read the same setting.
 */
export const workflowsDirKey = z
  .string()
  .min(1)
  .default(fromRoot("workflows"))
  .transform((value) =>
    value
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part.length > 0),
  );

/** Who a process signs what it writes as: a principal of the policy file and its key (both or neither). */
export const signingKeyShape = {
  /** The principal the process signs as (a name in the policy file's principals). */
  BATON_PRINCIPAL: z.string().min(1).optional(),
  /** Its Ed25519 private key, as `baton keys create` writes it. */
  BATON_SIGNING_KEY_FILE: z.string().min(1).optional(),
};

/** The check {@link signingKeyShape} needs: a principal and its key file are set together. */
export function refineSigningKey(
  config: { BATON_PRINCIPAL?: string | undefined; BATON_SIGNING_KEY_FILE?: string | undefined },
  context: z.RefinementCtx,
): void {
  if ((config.BATON_PRINCIPAL === undefined) === (config.BATON_SIGNING_KEY_FILE === undefined)) return;
  const missing = config.BATON_PRINCIPAL === undefined ? "BATON_PRINCIPAL" : "BATON_SIGNING_KEY_FILE";
  context.addIssue({
    code: "custom",
    path: [missing],
    message:
      "BATON_PRINCIPAL and BATON_SIGNING_KEY_FILE are set together (create a key with: baton keys create <name>)",
  });
}
