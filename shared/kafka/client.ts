import { Kafka, logLevel, type logCreator } from "kafkajs";

/** The Kafka client type, for code outside shared/kafka that passes a client along. */
export type KafkaClient = Kafka;
import type { Logger } from "../telemetry/logger.ts";

/** Where a Baton process finds Kafka. */
export interface KafkaConnectionOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
}

/**
 * Refusals kafkajs logs as errors although it retries them at once and they end well: a transaction begun while
 * the broker still writes the previous one's markers is refused until they are written (CONCURRENT_TRANSACTIONS),
 * and a coordinator that a broker has just started loads its state first (COORDINATOR_LOAD_IN_PROGRESS). If they
 * never end, kafkajs gives up with an error of its own, which stays an error.
 */
const expectedRetries = [
  "another concurrent operation on the same transaction",
  "The coordinator is loading and hence can't process requests",
];

/** The pino level for a kafkajs log entry: kafkajs's own, except expected retries, which are debug. */
export function pinoLevelOf(
  level: logLevel,
  entry: { message: string; error?: unknown },
): "error" | "warn" | "info" | "debug" {
  const text = `${entry.message} ${typeof entry.error === "string" ? entry.error : ""}`;
  if (expectedRetries.some((fragment) => text.includes(fragment))) return "debug";
  if (level === logLevel.ERROR || level === logLevel.NOTHING) return "error";
  if (level === logLevel.WARN) return "warn";
  if (level === logLevel.INFO) return "info";
  return "debug";
}

function pinoLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: "kafkajs" });
  return () =>
    ({ level, log }) => {
      const { message, ...extra } = log;
      child[pinoLevelOf(level, log)](extra, message);
    };
}

/** The Kafka client every producer, consumer and admin of Baton is built from. */
export function createKafka(options: KafkaConnectionOptions): Kafka {
  return new Kafka({
    brokers: options.brokers,
    clientId: options.clientId,
    logLevel: logLevel.WARN,
    logCreator: pinoLogCreator(options.logger),
    retry: { initialRetryTime: 200, retries: 8 },
  });
}
