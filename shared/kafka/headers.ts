import type { IHeaders } from "kafkajs";

/** Kafka headers as text, the way Baton reads and writes them. */
export type TextHeaders = Record<string, string>;

/** Reads Kafka headers as text; a repeated header keeps its last value. */
export function headersToText(headers: IHeaders | undefined): TextHeaders {
  const text: TextHeaders = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const last = Array.isArray(value) ? value.at(-1) : value;
    if (last === undefined) continue;
    text[name] = Buffer.isBuffer(last) ? last.toString("utf8") : String(last);
  }
  return text;
}

/** Names of the headers Baton writes on a dead letter, next to the original headers. */
export const deadLetterHeaders = {
  reason: "baton-error-reason",
  code: "baton-error-code",
  stage: "baton-error-stage",
  originTopic: "baton-origin-topic",
  originPartition: "baton-origin-partition",
  originOffset: "baton-origin-offset",
  failedAt: "baton-failed-at",
} as const;
