import type { Attributes } from "@opentelemetry/api";

/** OpenTelemetry messaging semantic-convention attributes for a Kafka operation. */
export function messagingAttributes(options: {
  operation: "send" | "receive" | "process";
  topic: string;
  partition?: number;
  offset?: string;
  key?: string | null;
  consumerGroup?: string;
}): Attributes {
  const attributes: Attributes = {
    "messaging.system": "kafka",
    "messaging.operation.type": options.operation,
    "messaging.operation.name": options.operation,
    "messaging.destination.name": options.topic,
  };
  if (options.partition !== undefined) attributes["messaging.destination.partition.id"] = String(options.partition);
  if (options.offset !== undefined) attributes["messaging.kafka.offset"] = Number(options.offset);
  if (options.key !== undefined && options.key !== null) attributes["messaging.kafka.message.key"] = options.key;
  if (options.consumerGroup !== undefined) attributes["messaging.consumer.group.name"] = options.consumerGroup;
  return attributes;
}
