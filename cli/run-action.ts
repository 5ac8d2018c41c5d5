import { BatonError } from "../shared/errors.ts";

/**
 * Wraps a command's action: a BatonError or any failure prints `error: …` with what to do and exits 1;
 * success exits 0 so open Kafka connections cannot keep a finished command alive.
 */
export function runAction<Args extends unknown[]>(
  action: (...args: Args) => Promise<void>,
): (...args: Args) => Promise<void> {
  return async (...args: Args) => {
    try {
      await action(...args);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`error: ${message}\n`);
      if (
        error instanceof BatonError &&
        (error.code === "KAFKA_UNAVAILABLE" || error.code === "REGISTRY_UNAVAILABLE")
      ) {
        process.stderr.write(
          "hint: is the local stack up? run `baton stack up` (or set KAFKA_BROKERS / SCHEMA_REGISTRY_URL)\n",
        );
      }
      if (error instanceof BatonError && (error.code === "AUTHENTICATION_FAILED" || error.code === "NOT_AUTHORIZED")) {
        process.stderr.write(
          "hint: check KAFKA_SASL_* / REGISTRY_* (README: Security); `baton acls print` lists each principal's ACLs\n",
        );
      }
      process.exit(1);
    }
    process.exit(0);
  };
}
