/**
 * Every failure Baton raises carries one code from this closed list and whether retrying can help.
 * The stage runner decides retry vs dead letter from `retriable` alone.
 */
export type BatonErrorCode =
  /** Configuration from the environment or a file failed validation at start. */
  | "CONFIG_INVALID"
  /** A message's bytes could not be decoded with its schema (not Confluent wire format, unknown schema id, bad Avro). */
  | "DECODE_FAILED"
  /** A value could not be encoded with its topic's schema (the value does not match the record). */
  | "ENCODE_FAILED"
  /** The schema registry refused a schema, usually because it breaks the subject's compatibility rule. */
  | "SCHEMA_INCOMPATIBLE"
  /** The schema registry could not be reached or answered with a server error. */
  | "REGISTRY_UNAVAILABLE"
  /** A topic's declared layout cannot be applied to the cluster (for example fewer partitions than it has). */
  | "TOPIC_CONFLICT"
  /** The Kafka cluster could not be reached or a request to it failed in a way that may pass. */
  | "KAFKA_UNAVAILABLE"
  /** Kafka or the registry refused the credentials (wrong user or password, none given to a secured listener). */
  | "AUTHENTICATION_FAILED"
  /** Kafka's ACLs refused this principal a topic, group, transactional id or cluster operation it needs. */
  | "NOT_AUTHORIZED"
  /** A message is valid on the wire but its content breaks a rule of the stage (unknown tenant, bad arguments). */
  | "INVALID_INPUT"
  /** A call to something outside Baton (a tool, an LLM) timed out. */
  | "TIMEOUT"
  /** A stage's own logic failed unexpectedly. */
  | "INTERNAL";

/** Options for a {@link BatonError}. */
export interface BatonErrorOptions {
  retriable?: boolean;
  /** When the cause says when to try again (a rate limit's Retry-After). */
  retryAfterMs?: number;
  cause?: unknown;
  /** Structured detail for logs and dead-letter headers. */
  details?: Record<string, unknown>;
}

const retriableByDefault: Record<BatonErrorCode, boolean> = {
  CONFIG_INVALID: false,
  DECODE_FAILED: false,
  ENCODE_FAILED: false,
  SCHEMA_INCOMPATIBLE: false,
  REGISTRY_UNAVAILABLE: true,
  TOPIC_CONFLICT: false,
  KAFKA_UNAVAILABLE: true,
  AUTHENTICATION_FAILED: false,
  NOT_AUTHORIZED: false,
  INVALID_INPUT: false,
  TIMEOUT: true,
  INTERNAL: true,
};

/** The one error base of Baton: a code from a closed list and a retriable flag (terminal vs retriable). */
export class BatonError extends Error {
  readonly code: BatonErrorCode;
  readonly retriable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly details: Record<string, unknown>;

  constructor(code: BatonErrorCode, message: string, options: BatonErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BatonError";
    this.code = code;
    this.retriable = options.retriable ?? retriableByDefault[code];
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details ?? {};
  }
}

/** Turns anything thrown into a BatonError, keeping BatonErrors as they are; unknown failures are INTERNAL. */
export function toBatonError(error: unknown): BatonError {
  if (error instanceof BatonError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new BatonError("INTERNAL", message, { cause: error });
}
