import type { KafkaMessage } from "kafkajs";
import { headersToText, type TextHeaders } from "./headers.ts";
import { attemptOf } from "./retry-routing.ts";

/** A consumed message after decoding, as stage logic sees it. */
export interface ReceivedMessage<T> {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: T;
  headers: TextHeaders;
  /** Epoch milliseconds the message was produced. */
  timestamp: number;
  /** 1 on the first delivery, n on the (n-1)th retry. */
  attempt: number;
}

/** A consumed Kafka message as a {@link ReceivedMessage} with its decoded value: key and headers as text. */
export function toReceived<T>(topic: string, partition: number, message: KafkaMessage, value: T): ReceivedMessage<T> {
  const headers = headersToText(message.headers);
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key === null ? null : message.key.toString("utf8"),
    value,
    headers,
    timestamp: Number(message.timestamp),
    attempt: attemptOf(headers),
  };
}
