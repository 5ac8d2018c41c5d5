import { randomBytes } from "node:crypto";
import { renderProperties } from "./properties-file.ts";

/** What the local broker's configuration depends on. */
export interface KafkaConfigOptions {
  host: string;
  brokerPort: number;
  controllerPort: number;
  dataDir: string;
  /** Makes the broker's listener SASL/SCRAM-SHA-512 with ACLs enforced (`baton stack up --secure`). */
  security?: KafkaSecuritySettings;
}

/** The secured broker's own credentials: the admin (a super user, also the broker's inter-broker user) and the controller's. */
export interface KafkaSecuritySettings {
  adminUser: string;
  adminPassword: string;
  controllerUser: string;
  controllerPassword: string;
}

const jaasQuote = (value: string): string => `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/**
 * Listeners of a secured broker: clients authenticate with SCRAM-SHA-512 (users made at format time, KIP-900), the
 * controller listener with PLAIN (KRaft's controllers cannot use SCRAM); the StandardAuthorizer denies whatever no
 * ACL allows, except to the super users (the admin, which is also the inter-broker user, and the controller).
 */
function securedListenerLines(
  options: KafkaConfigOptions,
  security: KafkaSecuritySettings,
): Array<[string, string | number | boolean]> {
  const { host, brokerPort, controllerPort } = options;
  const { adminUser, adminPassword, controllerUser, controllerPassword } = security;
  return [
    ["listeners", `SASL_PLAINTEXT://${host}:${brokerPort},CONTROLLER://${host}:${controllerPort}`],
    ["advertised.listeners", `SASL_PLAINTEXT://${host}:${brokerPort}`],
    ["listener.security.protocol.map", "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"],
    ["controller.listener.names", "CONTROLLER"],
    ["inter.broker.listener.name", "SASL_PLAINTEXT"],
    ["sasl.enabled.mechanisms", "SCRAM-SHA-512"],
    ["sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512"],
    ["sasl.mechanism.controller.protocol", "PLAIN"],
    ["listener.name.sasl_plaintext.sasl.enabled.mechanisms", "SCRAM-SHA-512"],
    [
      "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config",
      `org.apache.kafka.common.security.scram.ScramLoginModule required username=${jaasQuote(adminUser)} password=${jaasQuote(adminPassword)};`,
    ],
    ["listener.name.controller.sasl.enabled.mechanisms", "PLAIN"],
    [
      "listener.name.controller.plain.sasl.jaas.config",
      `org.apache.kafka.common.security.plain.PlainLoginModule required username=${jaasQuote(controllerUser)} ` +
        `password=${jaasQuote(controllerPassword)} user_${controllerUser}=${jaasQuote(controllerPassword)};`,
    ],
    ["authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"],
    ["super.users", `User:${adminUser};User:${controllerUser}`],
    ["allow.everyone.if.no.acl.found", false],
  ];
}

/**
 * One combined KRaft broker and controller for development: topics are created explicitly (as in production), and every
 * internal topic fits a single node.
 */
export function renderKafkaServerProperties(options: KafkaConfigOptions): string {
  const { host, brokerPort, controllerPort, dataDir } = options;
  const listenerLines: Array<[string, string | number | boolean]> =
    options.security === undefined
      ? [
          ["listeners", `PLAINTEXT://${host}:${brokerPort},CONTROLLER://${host}:${controllerPort}`],
          ["advertised.listeners", `PLAINTEXT://${host}:${brokerPort}`],
          ["listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"],
          ["controller.listener.names", "CONTROLLER"],
          ["inter.broker.listener.name", "PLAINTEXT"],
        ]
      : securedListenerLines(options, options.security);
  return renderProperties(
    [
      ["process.roles", "broker,controller"],
      ["node.id", 1],
      ["controller.quorum.voters", `1@${host}:${controllerPort}`],
      ...listenerLines,
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
