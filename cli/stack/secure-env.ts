import { resolveSecureStackPaths } from "./stack-paths.ts";
import { secureCredentialsDir, secureKafkaPorts, stackHost } from "./stack-services.ts";
import { passwordFile } from "./secure-credentials.ts";

/**
 * The environment that points a Baton process at the secured local broker as one principal (`baton-planner`,
 * `baton-submitter`, `baton-admin`, …): its SCRAM user and the file of its password, never the password itself.
 */
export function secureStackEnv(principal: string, stateDir?: string): Record<string, string> {
  const paths = resolveSecureStackPaths(stateDir);
  return {
    KAFKA_BROKERS: `${stackHost}:${secureKafkaPorts.broker}`,
    KAFKA_SASL_MECHANISM: "scram-sha-512",
    KAFKA_SASL_USERNAME: principal,
    KAFKA_SASL_PASSWORD_FILE: passwordFile(secureCredentialsDir(paths), principal),
  };
}

/** The same environment as shell `export` lines, for people to paste. */
export function secureStackEnvLines(principal: string, stateDir?: string): string[] {
  return Object.entries(secureStackEnv(principal, stateDir)).map(([key, value]) => `export ${key}=${value}`);
}
