import { AsyncLocalStorage } from "node:async_hooks";

/** Fields every log line written while handling a message carries (requestId, stage, tool, attempt). */
export type LogFields = Record<string, string | number | undefined>;

const storage = new AsyncLocalStorage<LogFields>();

/** Runs `work` with `fields` added to every log line it writes, on top of the fields already in effect. */
export function withLogContext<Result>(fields: LogFields, work: () => Result): Result {
  return storage.run({ ...storage.getStore(), ...fields }, work);
}

/** The fields in effect here (empty outside any {@link withLogContext}). */
export function logContext(): LogFields {
  return storage.getStore() ?? {};
}
