import { randomBytes } from "node:crypto";
import { renderProperties } from "./properties-file.ts";

/** What the local broker's configuration depends on. */
export interface KafkaConfigOptions {
  host: string;
  brokerPort: number;
  controllerPort: number;
  dataDir: string;
}

/**
 * One combined KRaft broker and controller for development: topics are created explicitly (as in production), and every
 * internal topic fits a single node.
 */
export function renderKafkaServerProperties(options: KafkaConfigOptions): string {
  const { host, brokerPort, controllerPort, dataDir } = options;
  return renderProperties(
    [
      ["process.roles", "broker,controller"],
      ["node.id", 1],
      ["controller.quorum.voters", `1@${host}:${controllerPort}`],
      ["listeners", `PLAINTEXT://${host}:${brokerPort},CONTROLLER://${host}:${controllerPort}`],
      ["advertised.listeners", `PLAINTEXT://${host}:${brokerPort}`],
      ["listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"],
      ["controller.listener.names", "CONTROLLER"],
      ["inter.broker.listener.name", "PLAINTEXT"],
      ["log.dirs", dataDir],
      ["num.partitions", 1],
      ["default.replication.factor", 1],
      ["auto.create.topics.enable", false],
      ["offsets.topic.replication.factor", 1],
      // One partition each on a one-broker stack: a single coordinator to load, which `stack up` waits for.
      ["offsets.topic.num.partitions", 1],
      ["transaction.state.log.num.partitions", 1],
      ["transaction.state.log.replication.factor", 1],
      ["transaction.state.log.min.isr", 1],
      ["share.coordinator.state.topic.replication.factor", 1],
      ["share.coordinator.state.topic.min.isr", 1],
      ["group.initial.rebalance.delay.ms", 0],
    ],
    "Written by `baton stack up` on every start; edit cli/stack/kafka-config.ts instead.",
  );
}

/** A log4j2 configuration that sends the broker's logs to one size-capped file instead of the console. */
export function renderKafkaLog4j2Properties(logFile: string): string {
  return renderProperties(
    [
      ["name", "baton-kafka"],
      ["appender.server.type", "RollingFile"],
      ["appender.server.name", "server"],
      ["appender.server.fileName", logFile],
      ["appender.server.filePattern", `${logFile}.%i`],
      ["appender.server.layout.type", "PatternLayout"],
      ["appender.server.layout.pattern", "[%d] %p %m (%c)%n"],
      ["appender.server.policies.type", "Policies"],
      ["appender.server.policies.size.type", "SizeBasedTriggeringPolicy"],
      ["appender.server.policies.size.size", "50MB"],
      ["appender.server.strategy.type", "DefaultRolloverStrategy"],
      ["appender.server.strategy.max", 2],
      ["rootLogger.level", "INFO"],
      ["rootLogger.appenderRef.server.ref", "server"],
    ],
    "Written by `baton stack up` on every start; edit cli/stack/kafka-config.ts instead.",
  );
}

/** Kafka's reserved UUIDs (zero, and one: the metadata topic's id) in their string form. */
const reservedKafkaIds = new Set(["AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAQ"]);

/**
 * A cluster id as Kafka's `StorageTool random-uuid` makes one: 16 random bytes in unpadded base64url, never reserved
 * and never starting with "-" (Kafka avoids ids that look like command-line flags).
 */
export function newKafkaClusterId(random: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(16).toString("base64url");
    if (!id.startsWith("-") && !reservedKafkaIds.has(id)) return id;
  }
}
