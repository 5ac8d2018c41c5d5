/** Why `baton stack` could not do what it was asked; each code says what the person should fix. */
export type StackErrorCode =
  /** No `java` could be run: the stack's three services are JVM programs. */
  | "JAVA_MISSING"
  /** `java` runs but is older than the stack needs. */
  | "JAVA_TOO_OLD"
  /** No `mvn` could be run, and a service is not yet in the download cache. */
  | "MAVEN_MISSING"
  /** A port a service needs is held by a process this stack did not start. */
  | "PORT_IN_USE"
  /** Maven could not fetch or unpack an artifact from Maven Central. */
  | "DOWNLOAD_FAILED"
  /** A service could not be launched, or its process exited while starting. */
  | "START_FAILED"
  /** A service's process stays alive but never answers its readiness check. */
  | "READY_TIMEOUT"
  /** A service's process survived SIGTERM and SIGKILL. */
  | "STOP_FAILED";

/** A failure of `baton stack`: `message` is one line saying what happened and what to do; `details` may add log lines. */
export class StackError extends Error {
  readonly code: StackErrorCode;
  readonly details: string | undefined;

  constructor(code: StackErrorCode, message: string, options: { details?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StackError";
    this.code = code;
    this.details = options.details;
  }
}
