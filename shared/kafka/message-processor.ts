import type { KafkaMessage } from "kafkajs";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { extractTraceContext } from "../telemetry/propagation.ts";
import { withLogContext } from "../telemetry/log-context.ts";
import { toBatonError } from "../errors.ts";
import { headersToText } from "./headers.ts";
import { attemptOf, originTopic, routeFailure } from "./retry-routing.ts";
import { messagingAttributes } from "./messaging-attributes.ts";
import type { PreparedMessage } from "./producer.ts";
import { toReceived } from "./received-message.ts";
import type { StageRunnerOptions } from "./stage-runner-options.ts";

/** What processing one message left to do: its prepared messages, and ending its span once they are sent. */
export interface Handled {
  prepared: PreparedMessage[];
  finish: (error: unknown) => void;
  afterCommit?: (() => void) | undefined;
}

/**
 * Handles one consumed message in its own CONSUMER span, under the trace context its headers carry: decode, call
 * the stage's logic, prepare its messages. A failure of the logic becomes a message to the topic's next retry
 * topic or its dead letter (with the raw bytes and the reason); only KAFKA_UNAVAILABLE is thrown, since the
 * chunk cannot be published then and is redelivered.
 */
export async function processMessage<T>(
  options: StageRunnerOptions<T>,
  topic: string,
  partition: number,
  message: KafkaMessage,
): Promise<Handled> {
  const { stage, groupId, tracer, logger, codec, handler, producer, metrics } = options;
  const headers = headersToText(message.headers);
  const key = message.key === null ? null : message.key.toString("utf8");
  const parent = extractTraceContext(headers);
  const span = tracer.startSpan(
    `process ${topic}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        ...messagingAttributes({
          operation: "process",
          topic,
          partition,
          offset: message.offset,
          key,
          consumerGroup: groupId,
        }),
        "baton.stage": stage,
        "baton.attempt": attemptOf(headers),
        ...(key === null ? {} : { "baton.request_id": key.split("/")[0] ?? key }),
      },
    },
    parent,
  );
  metrics?.messagesIn.inc({ topic: originTopic(topic) });
  const stopTimer = metrics?.processingSeconds.startTimer({ topic: originTopic(topic) });
  const finish = (error: unknown): void => {
    if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    span.end();
  };
  const logFields = { stage, requestId: key?.split("/")[0], attempt: attemptOf(headers) };
  return context.with(trace.setSpan(parent, span), () =>
    withLogContext(logFields, async (): Promise<Handled> => {
      try {
        const { value } = await codec.decode<T>(message.value);
        const outcome = await handler(toReceived(originTopic(topic), partition, message, value));
        const keeps = options.keepsPartition ?? (() => false);
        const pinned = <M extends { topic: string; partition?: number }>(outgoing: M): M =>
          outgoing.partition === undefined && keeps(outgoing.topic) ? { ...outgoing, partition } : outgoing;
        const prepared = await producer.prepareAll(
          outcome.messages.map(pinned),
          (outcome.rawMessages ?? []).map(pinned),
        );
        stopTimer?.();
        return { prepared, finish, afterCommit: outcome.afterCommit };
      } catch (thrown) {
        const error = toBatonError(thrown);
        if (error.code === "KAFKA_UNAVAILABLE") {
          finish(error);
          throw error;
        }
        span.recordException(error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        const override = error.details.retryDelaysMs;
        const route = routeFailure({
          error,
          stage,
          topic,
          partition,
          offset: message.offset,
          headers,
          delaysMs: Array.isArray(override)
            ? (override as number[])
            : (options.retryDelaysMs?.get(originTopic(topic)) ?? []),
          now: Date.now(),
        });
        span.setAttribute("baton.failure.route", route.kind);
        (route.kind === "retry" ? metrics?.retries : metrics?.deadLetters)?.inc({ topic: originTopic(topic) });
        logger.warn(
          {
            stage,
            topic,
            partition,
            offset: message.offset,
            code: error.code,
            attempt: attemptOf(headers),
            to: route.topic,
            err: error,
          },
          route.kind === "retry" ? "retrying message later" : "dead-lettering message",
        );
        const deadLetter = await producer.prepareAll(
          [],
          [{ topic: route.topic, key, value: message.value, headers: route.headers, partition }],
        );
        return { prepared: deadLetter, finish };
      }
    }),
  );
}
