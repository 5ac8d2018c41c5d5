import { randomUUID } from "node:crypto";
import type { Kafka } from "kafkajs";
import type { AvroCodec } from "../schemas/codec.ts";
import { toReceived, type ReceivedMessage } from "./received-message.ts";

/** A consumed message whose value is decoded when it can be, with the raw bytes kept. */
export interface ReadMessage extends ReceivedMessage<unknown> {
  raw: Buffer | null;
  /** Why the value could not be decoded, when it could not. */
  decodeError?: string;
}

/** Options for {@link readTopic}. */
export interface ReadTopicOptions {
  kafka: Kafka;
  codec: AvroCodec;
  topic: string;
  /** Stop as soon as this returns true for the messages read so far. */
  until: (messages: ReadMessage[]) => boolean;
  timeoutMs: number;
  /** Read from the start of the topic (default) or only what arrives from now on. */
  fromBeginning?: boolean;
}

/**
 * Reads a topic with a throwaway consumer group until a condition holds or the time runs out;
 * for the CLI (waiting for a response, listing dead letters) and tests. Returns what was read.
 */
export async function readTopic(options: ReadTopicOptions): Promise<ReadMessage[]> {
  const consumer = options.kafka.consumer({ groupId: `baton-reader-${randomUUID()}`, allowAutoTopicCreation: false });
  const messages: ReadMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [options.topic], fromBeginning: options.fromBeginning ?? true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, options.timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ topic, partition, message }) => {
            const base = { ...toReceived(topic, partition, message, null), raw: message.value };
            try {
              const { value } = await options.codec.decode<unknown>(message.value);
              messages.push({ ...base, value });
            } catch (error) {
              messages.push({ ...base, value: null, decodeError: (error as Error).message });
            }
            if (options.until(messages)) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return messages;
}
