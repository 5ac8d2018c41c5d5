import type { KafkaClient } from "../../shared/kafka/client.ts";
import { BatonError } from "../../shared/errors.ts";
import type { EventFeed, EventPosition, FollowedEvent } from "../../shared/kafka/event-feed.ts";
import { keyPartition } from "../../shared/kafka/key-partition.ts";
import type { BatonProducer } from "../../shared/kafka/producer.ts";
import { readToEnd } from "../../shared/kafka/topic-reader.ts";
import type { AvroCodec } from "../../shared/schemas/codec.ts";
import type { Request } from "../../shared/schemas/records.ts";
import { signRecord, type Signer } from "../../shared/security/record-signature.ts";
import { requestPartitions } from "../../shared/topics.ts";

/** Where a request is: the partition number of its messages and the request as it was submitted. */
export interface RequestLocation {
  partition: number;
  request: Request;
}

/** What the HTTP API needs from the pipeline; the Kafka-backed one is {@link KafkaGatewayBackend}. */
export interface GatewayBackend {
  /** Produces the request; KAFKA_UNAVAILABLE when Kafka does not take it in time. */
  submit(request: Request): Promise<RequestLocation>;
  /** The request with this id, or undefined when the topics hold none. */
  locate(requestId: string): Promise<RequestLocation | undefined>;
  /** Its events so far. */
  read(location: RequestLocation): Promise<FollowedEvent[]>;
  /** Its events after `after` (all without it), as they come, ending with the response. */
  follow(
    location: RequestLocation,
    options: { after?: EventPosition; signal: AbortSignal },
  ): AsyncIterable<FollowedEvent>;
}

/** Producers' clocks may differ by this much: a request's events are read from this long before it. */
const clockSkewMs = 5 * 60_000;

/** How many requests this gateway submitted it remembers the place of (a later GET finds them without a read). */
const rememberedRequests = 10_000;

/** Options of {@link KafkaGatewayBackend}. */
export interface KafkaGatewayBackendOptions {
  kafka: KafkaClient;
  codec: AvroCodec;
  producer: BatonProducer;
  feed: EventFeed;
  signer: Signer | undefined;
  submitTimeoutMs: number;
}

/**
 * The gateway's view of the pipeline: requests go to baton.requests (signed when the gateway has a key), a request
 * is found on the partition its id hashes to (as Baton's producers put it), its progress is read from baton.events.
 * Stateless: what it remembers of its own submissions only saves a read.
 */
export class KafkaGatewayBackend implements GatewayBackend {
  private readonly options: KafkaGatewayBackendOptions;
  private readonly submitted = new Map<string, RequestLocation>();

  constructor(options: KafkaGatewayBackendOptions) {
    this.options = options;
  }

  async submit(request: Request): Promise<RequestLocation> {
    const { producer, signer, submitTimeoutMs } = this.options;
    const headers = signer === undefined ? {} : signRecord("baton.requests", request, signer);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new BatonError("KAFKA_UNAVAILABLE", `Kafka did not take the request within ${submitTimeoutMs} ms`)),
        submitTimeoutMs,
      );
    });
    try {
      await Promise.race([
        producer.send([{ topic: "baton.requests", key: request.requestId, value: request, headers }]),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
    const location = { partition: keyPartition(request.requestId, requestPartitions), request };
    this.remember(location);
    return location;
  }

  async locate(requestId: string): Promise<RequestLocation | undefined> {
    const known = this.submitted.get(requestId);
    if (known !== undefined) return known;
    const partition = keyPartition(requestId, requestPartitions);
    const { messages, unfinished } = await readToEnd({
      kafka: this.options.kafka,
      codec: this.options.codec,
      topics: [{ topic: "baton.requests", partitions: [partition] }],
      keys: (key) => key === requestId,
      timeoutMs: 10_000,
    });
    if (unfinished.length > 0)
      throw new BatonError("KAFKA_UNAVAILABLE", `could not read baton.requests partition ${partition} in time`);
    const first = messages.find((message) => isRequest(message.value, requestId));
    if (first === undefined) return undefined;
    const location = { partition, request: first.value as Request };
    this.remember(location);
    return location;
  }

  read(location: RequestLocation): Promise<FollowedEvent[]> {
    return this.options.feed.read(location.request.requestId, {
      partition: location.partition,
      since: location.request.submittedAt - clockSkewMs,
    });
  }

  follow(
    location: RequestLocation,
    options: { after?: EventPosition; signal: AbortSignal },
  ): AsyncIterable<FollowedEvent> {
    return this.options.feed.follow(location.request.requestId, {
      partition: location.partition,
      since: location.request.submittedAt - clockSkewMs,
      signal: options.signal,
      ...(options.after === undefined ? {} : { after: options.after }),
    });
  }

  private remember(location: RequestLocation): void {
    this.submitted.delete(location.request.requestId);
    this.submitted.set(location.request.requestId, location);
    if (this.submitted.size > rememberedRequests) {
      const oldest = this.submitted.keys().next().value;
      if (oldest !== undefined) this.submitted.delete(oldest);
    }
  }
}

/** Whether a value read from baton.requests is a request with this id (anyone may write the topic). */
function isRequest(value: unknown, requestId: string): value is Request {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Request).requestId === requestId &&
    typeof (value as Request).submittedAt === "number"
  );
}
