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

function pinoLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: "kafkajs" });
  return () =>
    ({ level, log }) => {
      const { message, ...extra } = log;
      if (level === logLevel.ERROR || level === logLevel.NOTHING) child.error(extra, message);
      else if (level === logLevel.WARN) child.warn(extra, message);
      else if (level === logLevel.INFO) child.info(extra, message);
      else child.debug(extra, message);
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
