import type { Kafka } from "kafkajs";
import { BatonError } from "../errors.ts";
import type { AvroCodec } from "../schemas/codec.ts";
import type { Event } from "../schemas/records.ts";
import { eventsTopic } from "../progress-events.ts";
import { requestPartitions } from "../topics.ts";
import { keyPartition } from "./key-partition.ts";
import type { ReceivedMessage } from "./received-message.ts";
import { readToEnd } from "./topic-reader.ts";
import { TopicWatcher } from "./topic-watcher.ts";

/** Where an event is on baton.events: all of a request's events are on one partition, in offset order. */
export interface EventPosition {
  partition: number;
  offset: bigint;
}

/** One event of a request as a follower gets it, with its id (`<partition>-<offset>`, an SSE `Last-Event-ID`). */
export interface FollowedEvent {
  id: string;
  partition: number;
  offset: bigint;
  event: Event;
}

/** The id of the event at a position: `<partition>-<offset>`. */
export function eventId(position: EventPosition): string {
  return `${position.partition}-${position.offset}`;
}

/** The position an event id names, or undefined for text that is not one. */
export function parseEventId(text: string): EventPosition | undefined {
  const match = /^(\d{1,5})-(\d{1,19})$/.exec(text.trim());
  if (match === null) return undefined;
  return { partition: Number(match[1]), offset: BigInt(match[2] ?? "0") };
}

/** Options of {@link EventFeed.follow}. */
export interface FollowOptions {
  /** Only the events after this one (a resumed stream gets exactly what it missed). */
  after?: EventPosition;
  /** The partition the request's messages are on (default: where its id hashes, as Baton's producers put it). */
  partition?: number;
  /** Reads what was written before the feed started from this time on (epoch ms), not from the beginning. */
  since?: number;
  /** Ends the iteration (a client that went away). */
  signal?: AbortSignal;
}

/** Whether a follower is done: the response is the last event of a request. */
export function isFinal(event: Event): boolean {
  return event.type === "RESPONSE";
}

/**
 * Follows baton.events for any number of requests with one consumer: each {@link follow} reads what its request's
 * partition already holds (read-committed, up to the end it had) and then what the live consumer sees, by offset,
 * so nothing is told twice or missed, and ends after the response. For the gateway's SSE and `baton submit --follow`.
 */
export class EventFeed {
  private readonly kafka: Kafka;
  private readonly codec: AvroCodec;
  private readonly watcher: TopicWatcher<Event | null>;

  constructor(options: { kafka: Kafka; codec: AvroCodec }) {
    this.kafka = options.kafka;
    this.codec = options.codec;
    this.watcher = new TopicWatcher<Event | null>({
      kafka: options.kafka,
      codec: options.codec,
      topic: eventsTopic,
      remember: false,
      // About ten events a request: gathered for up to 100 ms, a follower's events come a little later, and the
      // feed's fetches are fewer when the pipeline is busy.
      gatherMs: 100,
    });
  }

  /** Starts following from the topic's end. */
  start(): Promise<void> {
    return this.watcher.start();
  }

  stop(): Promise<void> {
    return this.watcher.stop();
  }

  /**
   * A request's events written so far (read-committed, up to the end its partition has now), in order: what a
   * status page shows. Fails with KAFKA_UNAVAILABLE when the partition cannot be read in time.
   */
  async read(requestId: string, options: Omit<FollowOptions, "signal" | "after"> = {}): Promise<FollowedEvent[]> {
    const partition = options.partition ?? keyPartition(requestId, requestPartitions);
    const { messages, unfinished } = await readToEnd({
      kafka: this.kafka,
      codec: this.codec,
      topics: [{ topic: eventsTopic, partitions: [partition] }],
      ...(options.since === undefined ? {} : { since: options.since }),
      keys: (key) => key === requestId,
      timeoutMs: 10_000,
    });
    if (unfinished.length > 0)
      throw new BatonError("KAFKA_UNAVAILABLE", `could not read ${eventsTopic} partition ${partition} in time`);
    return messages.flatMap((message) => {
      const followed = toFollowed(message as ReceivedMessage<Event | null>, requestId, partition);
      return followed === undefined ? [] : [followed];
    });
  }

  /** A request's events after `options.after` (or from `since`), in order, ending with its response. */
  async *follow(requestId: string, options: FollowOptions = {}): AsyncGenerator<FollowedEvent> {
    const partition = options.after?.partition ?? options.partition ?? keyPartition(requestId, requestPartitions);
    const live: FollowedEvent[] = [];
    let wake: (() => void) | undefined;
    const stopListening = this.watcher.listen((message) => {
      const followed = toFollowed(message, requestId, partition);
      if (followed === undefined) return;
      live.push(followed);
      wake?.();
    }, requestId);
    const aborted = new Promise<void>((resolve) => {
      if (options.signal?.aborted === true) resolve();
      options.signal?.addEventListener("abort", () => resolve(), { once: true });
    });
    try {
      let last = options.after?.offset ?? -1n;
      const earlier = await readToEnd({
        kafka: this.kafka,
        codec: this.codec,
        topics: [{ topic: eventsTopic, partitions: [partition], fromOffset: last + 1n }],
        ...(options.since === undefined || options.after !== undefined ? {} : { since: options.since }),
        keys: (key) => key === requestId,
      });
      if (earlier.unfinished.length > 0)
        throw new BatonError("KAFKA_UNAVAILABLE", `could not read ${eventsTopic} partition ${partition} in time`);
      for (const message of earlier.messages) {
        const followed = toFollowed(message as ReceivedMessage<Event | null>, requestId, partition);
        if (followed === undefined || followed.offset <= last) continue;
        last = followed.offset;
        yield followed;
        if (isFinal(followed.event)) return;
      }
      while (options.signal?.aborted !== true) {
        const next = live.shift();
        if (next === undefined) {
          await Promise.race([new Promise<void>((resolve) => (wake = resolve)), aborted]);
          wake = undefined;
          continue;
        }
        if (next.offset <= last) continue;
        last = next.offset;
        yield next;
        if (isFinal(next.event)) return;
      }
    } finally {
      stopListening();
    }
  }
}

/** A consumed message as an event of the request on its partition; undefined for anything else (trust no topic). */
function toFollowed(
  message: ReceivedMessage<Event | null>,
  requestId: string,
  partition: number,
): FollowedEvent | undefined {
  const event = message.value;
  if (message.key !== requestId || message.partition !== partition || event === null) return undefined;
  if (typeof event !== "object" || event.requestId !== requestId) return undefined;
  const offset = BigInt(message.offset);
  return { id: eventId({ partition, offset }), partition, offset, event };
}
