import { Partitioners, type Kafka, type Message, type Producer, type Transaction } from "kafkajs";
import { context, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from "@opentelemetry/api";
import type { AvroCodec } from "../schemas/codec.ts";
import { injectTraceContext } from "../telemetry/propagation.ts";
import { BatonError } from "../errors.ts";
import type { TextHeaders } from "./headers.ts";
import { messagingAttributes } from "./messaging-attributes.ts";
import { forgetCoordinators, installCoordinatorCache } from "./coordinator-cache.ts";

installCoordinatorCache();

/** A message to produce: the key as UTF-8 text, the value as a record of the topic's schema. */
export interface OutgoingMessage {
  topic: string;
  key: string;
  value: unknown;
  headers?: TextHeaders;
  /**
   * The partition to write to, instead of the key's hash: a state record keyed otherwise than by requestId
   * (an idempotency key) goes to its run's partition number, so the instance owning the run holds it.
   */
  partition?: number;
}

/** A message whose value is already bytes (dead letters, redrives, tests of bad input). */
export interface RawOutgoingMessage {
  topic: string;
  key: string | null;
  value: Buffer | null;
  headers?: TextHeaders;
  partition?: number;
}

/** A message encoded, with its trace headers written and its PRODUCER span started, waiting to be sent. */
export interface PreparedMessage {
  topic: string;
  message: Message;
  span: Span;
}

/** Offsets a transaction commits for a consumer group, as the next offset to read. */
export interface TransactionOffsets {
  consumerGroupId: string;
  offsets: Array<{ topic: string; partition: number; offset: string }>;
}

/** Options for {@link BatonProducer.connect}. */
export interface ProducerOptions {
  kafka: Kafka;
  codec: AvroCodec;
  tracer: Tracer;
  /** Makes the producer transactional (implies idempotence); one id per producing instance. */
  transactionalId?: string;
}

/** Sends within one Kafka transaction; see {@link BatonProducer.transaction}. */
export interface ProducerTransaction {
  send(messages: OutgoingMessage[]): Promise<void>;
  sendPrepared(prepared: PreparedMessage[]): Promise<void>;
  sendRaw(messages: RawOutgoingMessage[]): Promise<void>;
  commitOffsets(offsets: TransactionOffsets): Promise<void>;
}

/**
 * Baton's producer: Avro values through the registry, the key as UTF-8, W3C trace context in headers,
 * a PRODUCER span per message, idempotence always on.
 */
export class BatonProducer {
  private readonly producer: Producer;
  private readonly codec: AvroCodec;
  private readonly tracer: Tracer;
  private readonly transactional: boolean;
  private broken = false;

  private constructor(producer: Producer, options: ProducerOptions) {
    this.producer = producer;
    this.codec = options.codec;
    this.tracer = options.tracer;
    this.transactional = options.transactionalId !== undefined;
  }

  /** Connects an idempotent (and, with a transactionalId, transactional) producer. */
  static async connect(options: ProducerOptions): Promise<BatonProducer> {
    const producer = options.kafka.producer({
      // Java's murmur2 partitioning: a key lands on the same partition whichever client produced it.
      createPartitioner: Partitioners.DefaultPartitioner,
      // An idempotent producer retries until the broker is back rather than drop or reorder a message. The first
      // retry comes fast: a transactional producer's next transaction is refused (CONCURRENT_TRANSACTIONS) while the
      // broker still writes the previous one's commit markers, a few milliseconds (docs/decisions/005); the delay
      // doubles from there, so a broker that is down is still asked about once a second after ten tries.
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 1, maxRetryTime: 30_000 },
      idempotent: true,
      maxInFlightRequests: options.transactionalId === undefined ? 5 : 1,
      allowAutoTopicCreation: false,
      ...(options.transactionalId === undefined ? {} : { transactionalId: options.transactionalId }),
    });
    try {
      await producer.connect();
      // kafkajs initialises a transactional id only at its first transaction. Baton initialises it now: that is
      // what fences the id's previous holder and ends its open transaction, before this process reads anything
      // the other one might still commit. An empty transaction sends InitProducerId and no EndTxn.
      if (options.transactionalId !== undefined) await (await producer.transaction()).abort();
    } catch (error) {
      throw new BatonError("KAFKA_UNAVAILABLE", `producer cannot connect: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return new BatonProducer(producer, options);
  }

  private async encodeAll(messages: OutgoingMessage[]): Promise<RawOutgoingMessage[]> {
    return Promise.all(
      messages.map(async (message) => ({
        topic: message.topic,
        key: message.key,
        value: await this.codec.encode(message.topic, message.value),
        headers: message.headers ?? {},
        ...(message.partition === undefined ? {} : { partition: message.partition }),
      })),
    );
  }

  /** Starts each message's PRODUCER span under the active context and writes its trace headers. */
  private prepare(messages: RawOutgoingMessage[]): PreparedMessage[] {
    return messages.map((message) => {
      const span = this.tracer.startSpan(`send ${message.topic}`, {
        kind: SpanKind.PRODUCER,
        attributes: messagingAttributes({ operation: "send", topic: message.topic, key: message.key }),
      });
      const headers = { ...message.headers, ...injectTraceContext(trace.setSpan(context.active(), span)) };
      const sent: Message = { key: message.key, value: message.value, headers };
      if (message.partition !== undefined) sent.partition = message.partition;
      return { topic: message.topic, message: sent, span };
    });
  }

  private async sendWith(sender: Producer | Transaction, prepared: PreparedMessage[]): Promise<void> {
    if (prepared.length === 0) return;
    const byTopic = new Map<string, Message[]>();
    for (const { topic, message } of prepared) {
      const list = byTopic.get(topic) ?? [];
      list.push(message);
      byTopic.set(topic, list);
    }
    try {
      await sender.sendBatch({
        topicMessages: [...byTopic].map(([topic, topicMessages]) => ({ topic, messages: topicMessages })),
      });
    } catch (error) {
      for (const { span } of prepared) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        span.end();
      }
      const topics = [...byTopic.keys()].join(", ");
      throw new BatonError("KAFKA_UNAVAILABLE", `produce to ${topics} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    for (const { span } of prepared) span.end();
  }

  /**
   * Encodes messages and starts their spans under the active context (the message being processed), to be
   * sent later with others in one request by {@link BatonProducer.sendPrepared}.
   */
  async prepareAll(messages: OutgoingMessage[], rawMessages: RawOutgoingMessage[] = []): Promise<PreparedMessage[]> {
    return this.prepare([...(await this.encodeAll(messages)), ...rawMessages]);
  }

  /** Sends prepared messages of many inputs in one batch; resolves when the brokers acknowledged them. */
  async sendPrepared(prepared: PreparedMessage[]): Promise<void> {
    if (this.transactional) throw new BatonError("INTERNAL", "a transactional producer sends inside transaction()");
    await this.sendWith(this.producer, prepared);
  }

  /** Encodes and sends messages; resolves when every broker acknowledged them (acks=all). */
  async send(messages: OutgoingMessage[]): Promise<void> {
    if (this.transactional) throw new BatonError("INTERNAL", "a transactional producer sends inside transaction()");
    await this.sendWith(this.producer, this.prepare(await this.encodeAll(messages)));
  }

  /** Sends messages whose values are already bytes. */
  async sendRaw(messages: RawOutgoingMessage[]): Promise<void> {
    if (this.transactional) throw new BatonError("INTERNAL", "a transactional producer sends inside transaction()");
    await this.sendWith(this.producer, this.prepare(messages));
  }

  /**
   * Whether transactions can still run on this producer: false once the broker fenced it (another process
   * initialised its transactional id) or a failed transaction could not be aborted. Such a producer is closed
   * and replaced, never reused.
   */
  get usable(): boolean {
    return !this.broken;
  }

  /**
   * Runs `work` inside one Kafka transaction: every message it sends and the offsets it commits become
   * visible together, or not at all when `work` throws (the transaction is aborted and the error rethrown).
   */
  async transaction<T>(work: (transaction: ProducerTransaction) => Promise<T>): Promise<T> {
    if (!this.transactional) throw new BatonError("INTERNAL", "transaction() needs a producer with a transactionalId");
    if (this.broken) throw new BatonError("KAFKA_UNAVAILABLE", "this transactional producer was fenced or broke");
    let kafkaTransaction: Transaction;
    try {
      kafkaTransaction = await this.producer.transaction();
    } catch (error) {
      this.broken = true;
      throw new BatonError("KAFKA_UNAVAILABLE", `cannot begin a transaction: ${(error as Error).message}`, {
        cause: error,
        details: { fenced: isFenced(error) },
      });
    }
    const wrapper: ProducerTransaction = {
      send: async (messages) => this.sendWith(kafkaTransaction, this.prepare(await this.encodeAll(messages))),
      sendRaw: (messages) => this.sendWith(kafkaTransaction, this.prepare(messages)),
      sendPrepared: (prepared) => this.sendWith(kafkaTransaction, prepared),
      commitOffsets: (offsets) =>
        kafkaTransaction.sendOffsets({
          consumerGroupId: offsets.consumerGroupId,
          topics: groupOffsetsByTopic(offsets.offsets),
        }),
    };
    try {
      const result = await work(wrapper);
      await kafkaTransaction.commit();
      return result;
    } catch (error) {
      // The coordinator may have moved: look it up again for the abort and the next transaction.
      forgetCoordinators();
      const fenced = isFenced(error);
      // A fenced producer cannot abort (its epoch is gone); one whose abort is refused stays stuck in kafkajs.
      const aborted =
        !fenced &&
        (await kafkaTransaction.abort().then(
          () => true,
          () => false,
        ));
      if (!aborted) this.broken = true;
      if (error instanceof BatonError) {
        error.details.fenced = fenced;
        throw error;
      }
      throw new BatonError("KAFKA_UNAVAILABLE", `transaction failed: ${(error as Error).message}`, {
        cause: error,
        details: { fenced },
      });
    }
  }

  /** Flushes and closes the connection. */
  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}

function groupOffsetsByTopic(
  offsets: TransactionOffsets["offsets"],
): Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> {
  const byTopic = new Map<string, Array<{ partition: number; offset: string }>>();
  for (const { topic, partition, offset } of offsets) {
    const list = byTopic.get(topic) ?? [];
    list.push({ partition, offset });
    byTopic.set(topic, list);
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

/** kafkajs errors (and their causes) that say another producer initialised this transactional id. */
const fencedErrorTypes = new Set(["INVALID_PRODUCER_EPOCH", "PRODUCER_FENCED"]);

/** Whether an error, or one it wraps, says the producer was fenced by a newer instance of its transactional id. */
export function isFenced(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 8; depth += 1) {
    const candidate = current as { type?: unknown; message?: unknown; cause?: unknown; originalError?: unknown };
    if (typeof candidate.type === "string" && fencedErrorTypes.has(candidate.type)) return true;
    if (typeof candidate.message === "string" && /old epoch|fenced/i.test(candidate.message)) return true;
    current = candidate.originalError ?? candidate.cause;
  }
  return false;
}
