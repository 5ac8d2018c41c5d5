import { readFileSync } from "node:fs";
import { z } from "zod";

/** A secret or certificate read from a file at start: where it came from and what it holds. */
export interface FileContent {
  path: string;
  text: string;
}

/** A file read once when the config is parsed; a file that cannot be read is a bad key, named like any other. */
const readableFile = z
  .string()
  .min(1)
  .transform((path, context): FileContent => {
    try {
      return { path, text: readFileSync(path, "utf8") };
    } catch (error) {
      const reason = error instanceof Error && "code" in error ? String(error.code) : String(error);
      context.addIssue({ code: "custom", message: `cannot read ${path} (${reason})` });
      return z.NEVER;
    }
  })
  .optional();

const booleanText = z
  .enum(["true", "false", "1", "0", "yes", "no", ""])
  .default("false")
  .transform((value) => value === "true" || value === "1" || value === "yes");

/**
 * Security settings of every Baton process and the CLI: SASL and TLS towards Kafka, basic auth or a bearer token
 * towards the schema registry. Unset, Baton connects in plaintext without credentials (the local stack). Secrets
 * are best given as files (`*_FILE`), so they never show in process listings.
 */
export const securityConfigShape = {
  /** SASL mechanism of the Kafka listener; unset means no SASL. */
  KAFKA_SASL_MECHANISM: z.enum(["plain", "scram-sha-512"]).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /** A file holding the SASL password (trailing newline ignored); preferred over KAFKA_SASL_PASSWORD. */
  KAFKA_SASL_PASSWORD_FILE: readableFile,
  /** Connect to Kafka over TLS (the system's CAs unless KAFKA_TLS_CA_FILE is set). */
  KAFKA_TLS: booleanText,
  /** PEM file of the CA(s) that signed the brokers' certificates. */
  KAFKA_TLS_CA_FILE: readableFile,
  /** PEM client certificate and its key, for brokers that authenticate clients by certificate (mTLS). */
  KAFKA_TLS_CERT_FILE: readableFile,
  KAFKA_TLS_KEY_FILE: readableFile,
  /** HTTP basic auth towards the schema registry. */
  REGISTRY_USERNAME: z.string().min(1).optional(),
  REGISTRY_PASSWORD: z.string().min(1).optional(),
  REGISTRY_PASSWORD_FILE: readableFile,
  /** A bearer token towards the schema registry (OAuth/OIDC); exclusive with basic auth. */
  REGISTRY_TOKEN: z.string().min(1).optional(),
  REGISTRY_TOKEN_FILE: readableFile,
};

/** The parsed security settings. */
export type SecurityConfig = z.output<z.ZodObject<typeof securityConfigShape>>;

/** A problem found by comparing keys: the key to blame and why. */
export interface ConfigProblem {
  key: string;
  message: string;
}

/** Cross-key checks: a mechanism needs a user and exactly one password; certificates come in pairs; one registry auth. */
export function securityConfigProblems(config: SecurityConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const mechanism = config.KAFKA_SASL_MECHANISM;
  const hasPassword = config.KAFKA_SASL_PASSWORD !== undefined || config.KAFKA_SASL_PASSWORD_FILE !== undefined;
  if (mechanism !== undefined) {
    if (config.KAFKA_SASL_USERNAME === undefined)
      problems.push({ key: "KAFKA_SASL_USERNAME", message: `required when KAFKA_SASL_MECHANISM=${mechanism}` });
    if (!hasPassword)
      problems.push({
        key: "KAFKA_SASL_PASSWORD_FILE",
        message: `KAFKA_SASL_PASSWORD_FILE or KAFKA_SASL_PASSWORD is required when KAFKA_SASL_MECHANISM=${mechanism}`,
      });
  } else if (config.KAFKA_SASL_USERNAME !== undefined || hasPassword) {
    problems.push({
      key: "KAFKA_SASL_MECHANISM",
      message: "required when a SASL username or password is set (plain or scram-sha-512)",
    });
  }
  if (config.KAFKA_SASL_PASSWORD !== undefined && config.KAFKA_SASL_PASSWORD_FILE !== undefined)
    problems.push({
      key: "KAFKA_SASL_PASSWORD",
      message: "set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both",
    });
  if ((config.KAFKA_TLS_CERT_FILE === undefined) !== (config.KAFKA_TLS_KEY_FILE === undefined)) {
    const missing = config.KAFKA_TLS_CERT_FILE === undefined ? "KAFKA_TLS_CERT_FILE" : "KAFKA_TLS_KEY_FILE";
    problems.push({
      key: missing,
      message: "a client certificate needs both KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE",
    });
  }
  const tlsFiles = [config.KAFKA_TLS_CA_FILE, config.KAFKA_TLS_CERT_FILE, config.KAFKA_TLS_KEY_FILE];
  if (!config.KAFKA_TLS && tlsFiles.some((file) => file !== undefined))
    problems.push({ key: "KAFKA_TLS", message: "must be true when a KAFKA_TLS_*_FILE is set" });
  const hasRegistryPassword = config.REGISTRY_PASSWORD !== undefined || config.REGISTRY_PASSWORD_FILE !== undefined;
  const hasToken = config.REGISTRY_TOKEN !== undefined || config.REGISTRY_TOKEN_FILE !== undefined;
  if ((config.REGISTRY_USERNAME !== undefined) !== hasRegistryPassword) {
    problems.push({
      key: config.REGISTRY_USERNAME === undefined ? "REGISTRY_USERNAME" : "REGISTRY_PASSWORD_FILE",
      message: "registry basic auth needs REGISTRY_USERNAME and REGISTRY_PASSWORD(_FILE)",
    });
  }
  if (hasToken && (config.REGISTRY_USERNAME !== undefined || hasRegistryPassword))
    problems.push({ key: "REGISTRY_TOKEN", message: "use registry basic auth or a bearer token, not both" });
  if (config.REGISTRY_TOKEN !== undefined && config.REGISTRY_TOKEN_FILE !== undefined)
    problems.push({ key: "REGISTRY_TOKEN", message: "set REGISTRY_TOKEN or REGISTRY_TOKEN_FILE, not both" });
  if (config.REGISTRY_PASSWORD !== undefined && config.REGISTRY_PASSWORD_FILE !== undefined)
    problems.push({ key: "REGISTRY_PASSWORD", message: "set REGISTRY_PASSWORD or REGISTRY_PASSWORD_FILE, not both" });
  return problems;
}

/** How a Baton process authenticates to Kafka, resolved from its config. */
export interface KafkaSecurity {
  sasl?: { mechanism: "plain" | "scram-sha-512"; username: string; password: string };
  /** TLS towards the brokers; PEM texts where files were given. */
  tls?: { ca?: string; cert?: string; key?: string };
}

/** The Kafka credentials and TLS settings a parsed config describes (none for the local stack). */
export function kafkaSecurityOf(config: SecurityConfig): KafkaSecurity {
  const security: KafkaSecurity = {};
  const password = config.KAFKA_SASL_PASSWORD ?? secretOf(config.KAFKA_SASL_PASSWORD_FILE);
  if (config.KAFKA_SASL_MECHANISM !== undefined && config.KAFKA_SASL_USERNAME !== undefined && password !== undefined)
    security.sasl = { mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME, password };
  if (config.KAFKA_TLS) {
    security.tls = {
      ...(config.KAFKA_TLS_CA_FILE === undefined ? {} : { ca: config.KAFKA_TLS_CA_FILE.text }),
      ...(config.KAFKA_TLS_CERT_FILE === undefined ? {} : { cert: config.KAFKA_TLS_CERT_FILE.text }),
      ...(config.KAFKA_TLS_KEY_FILE === undefined ? {} : { key: config.KAFKA_TLS_KEY_FILE.text }),
    };
  }
  return security;
}

/** The Authorization header value towards the schema registry, or undefined when it needs none. */
export function registryAuthorizationOf(config: SecurityConfig): string | undefined {
  const token = config.REGISTRY_TOKEN ?? secretOf(config.REGISTRY_TOKEN_FILE);
  if (token !== undefined) return `Bearer ${token}`;
  const password = config.REGISTRY_PASSWORD ?? secretOf(config.REGISTRY_PASSWORD_FILE);
  if (config.REGISTRY_USERNAME === undefined || password === undefined) return undefined;
  return `Basic ${Buffer.from(`${config.REGISTRY_USERNAME}:${password}`).toString("base64")}`;
}

/** A secret file's text without the trailing newline editors and `echo` add. */
function secretOf(file: FileContent | undefined): string | undefined {
  return file?.text.replace(/\r?\n$/, "");
}
