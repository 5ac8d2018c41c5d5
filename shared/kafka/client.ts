import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { Kafka, logLevel, type KafkaConfig, type logCreator } from "kafkajs";
import { BatonError } from "../errors.ts";
import type { KafkaSecurity } from "../security/security-config.ts";

/** The Kafka client type, for code outside shared/kafka that passes a client along. */
export type KafkaClient = Kafka;
import type { Logger } from "../telemetry/logger.ts";

/** Where a Baton process finds Kafka. */
export interface KafkaConnectionOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** SASL and TLS settings; none for a plaintext cluster such as the local stack. */
  security?: KafkaSecurity;
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

/** Refusals kafkajs logs as errors that Baton reports itself, in one line (see {@link kafkaAccessError}). */
const reportedRefusals = ["authentication failed", "Not authorized to access", "authorization failed"];

/** The pino level for a kafkajs log entry: kafkajs's own, except expected retries, which are debug. */
export function pinoLevelOf(
  level: logLevel,
  entry: { message: string; error?: unknown },
): "error" | "warn" | "info" | "debug" {
  const text = `${entry.message} ${typeof entry.error === "string" ? entry.error : ""}`;
  if (expectedRetries.some((fragment) => text.includes(fragment))) return "debug";
  if (reportedRefusals.some((fragment) => text.includes(fragment))) return "debug";
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
    ...kafkajsSecurity(options.security),
  });
}

function kafkajsSecurity(security: KafkaSecurity | undefined): Pick<KafkaConfig, "sasl" | "ssl"> {
  const { sasl, tls } = security ?? {};
  return {
    ...(sasl === undefined
      ? {}
      : sasl.mechanism === "plain"
        ? { sasl: { mechanism: "plain", username: sasl.username, password: sasl.password } }
        : { sasl: { mechanism: "scram-sha-512", username: sasl.username, password: sasl.password } }),
    ...(tls === undefined ? {} : { ssl: Object.keys(tls).length === 0 ? true : { ...tls } }),
  };
}

const authorizationTypes: Record<string, string> = {
  TOPIC_AUTHORIZATION_FAILED: "a topic",
  GROUP_AUTHORIZATION_FAILED: "a consumer group",
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "a transactional id",
  CLUSTER_AUTHORIZATION_FAILED: "a cluster operation",
};

/**
 * The BatonError for a refusal of Kafka's security found anywhere in an error's causes: bad credentials
 * (AUTHENTICATION_FAILED) or an ACL that does not allow what was asked (NOT_AUTHORIZED); undefined for other errors.
 * kafkajs gives up on these without retrying; this says it in one line, naming the principal.
 */
export function kafkaAccessError(error: unknown, principal: string | undefined): BatonError | undefined {
  const who = principal === undefined ? "this client (no SASL user)" : `principal User:${principal}`;
  for (let cause = error, depth = 0; cause instanceof Error && depth < 8; depth += 1) {
    if (cause instanceof BatonError && (cause.code === "AUTHENTICATION_FAILED" || cause.code === "NOT_AUTHORIZED"))
      return cause;
    const type = "type" in cause ? String(cause.type) : "";
    if (cause.name === "KafkaJSSASLAuthenticationError" || type === "SASL_AUTHENTICATION_FAILED") {
      return new BatonError(
        "AUTHENTICATION_FAILED",
        `Kafka refused the credentials of ${who}: ${cause.message} (check KAFKA_SASL_USERNAME and the password)`,
        { cause: error },
      );
    }
    const resource = authorizationTypes[type];
    if (resource !== undefined) {
      const outer = error instanceof Error && error !== cause ? error.message.replace(cause.message, "") : "";
      const context = outer.replace(/[:\s]+$/, "");
      return new BatonError(
        "NOT_AUTHORIZED",
        `${context === "" ? "" : `${context}: `}Kafka's ACLs refuse ${who} ${resource} (${type}); \`baton acls print\` lists what each principal needs`,
        { cause: error },
      );
    }
    cause = cause.cause ?? ("originalError" in cause ? cause.originalError : undefined);
  }
  return undefined;
}

/** What a broker's listener asks of a client before anything else: SASL (with its mechanisms) or nothing. */
export type ListenerAuthentication = { sasl: false } | { sasl: true; mechanisms: string[] };

const saslHandshakeKey = 17;

/**
 * Asks a broker with a raw SaslHandshake which SASL mechanisms its listener wants; undefined when it cannot be
 * reached (kafkajs then reports that as it always does). A plaintext listener answers ILLEGAL_SASL_STATE.
 */
export function probeListenerAuthentication(
  broker: string,
  tls: KafkaSecurity["tls"],
  timeoutMs = 3_000,
): Promise<ListenerAuthentication | undefined> {
  const [host = "", portText = ""] = broker.split(/:(?=\d+$)/);
  const port = Number(portText);
  const correlationId = Math.floor(Math.random() * 0x7fffffff);
  const clientId = Buffer.from("baton-probe");
  const mechanism = Buffer.from("PLAIN");
  const frame = Buffer.alloc(4 + 10 + clientId.length + 2 + mechanism.length);
  let at = frame.writeInt32BE(frame.length - 4, 0);
  at = frame.writeInt16BE(saslHandshakeKey, at);
  at = frame.writeInt16BE(1, at);
  at = frame.writeInt32BE(correlationId, at);
  at = frame.writeInt16BE(clientId.length, at);
  at += clientId.copy(frame, at);
  at = frame.writeInt16BE(mechanism.length, at);
  mechanism.copy(frame, at);
  return new Promise((resolve) => {
    const socket: Socket =
      tls === undefined
        ? connectTcp({ host, port }, () => socket.write(frame))
        : connectTls({ host, port, servername: host, ...tls }, () => socket.write(frame));
    let received = Buffer.alloc(0);
    const finish = (answer: ListenerAuthentication | undefined): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => finish(undefined));
    socket.on("error", () => finish(undefined));
    socket.on("close", () => finish(undefined));
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4 || received.length < 4 + received.readInt32BE(0)) return;
      if (received.readInt32BE(4) !== correlationId) return finish(undefined);
      const errorCode = received.readInt16BE(8);
      const mechanisms: string[] = [];
      let offset = 10;
      const count = received.readInt32BE(offset);
      offset += 4;
      for (let index = 0; index < count; index += 1) {
        const length = received.readInt16BE(offset);
        mechanisms.push(received.toString("utf8", offset + 2, offset + 2 + length));
        offset += 2 + length;
      }
      // 34 ILLEGAL_SASL_STATE: the listener does not speak SASL; 0 or 33 UNSUPPORTED_SASL_MECHANISM: it does.
      finish(errorCode === 34 ? { sasl: false } : { sasl: true, mechanisms });
    });
  });
}

/**
 * Checks before connecting that this process's SASL settings fit the first broker that answers: a listener that
 * wants SASL hangs up on a client without it, which kafkajs would retry as a broken connection, for minutes.
 */
export async function checkKafkaAuthentication(options: KafkaConnectionOptions): Promise<void> {
  const sasl = options.security?.sasl;
  for (const broker of options.brokers) {
    const answer = await probeListenerAuthentication(broker, options.security?.tls);
    if (answer === undefined) continue;
    if (answer.sasl && sasl === undefined) {
      throw new BatonError(
        "AUTHENTICATION_FAILED",
        `Kafka at ${broker} requires SASL (${answer.mechanisms.join(", ")}) and no credentials are set: set ` +
          "KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE",
      );
    }
    if (answer.sasl && sasl !== undefined && !answer.mechanisms.includes(sasl.mechanism.toUpperCase())) {
      throw new BatonError(
        "AUTHENTICATION_FAILED",
        `Kafka at ${broker} does not offer SASL ${sasl.mechanism.toUpperCase()} (it offers ${answer.mechanisms.join(", ")}): change KAFKA_SASL_MECHANISM`,
      );
    }
    if (!answer.sasl && sasl !== undefined) {
      throw new BatonError(
        "AUTHENTICATION_FAILED",
        `Kafka at ${broker} does not speak SASL, but KAFKA_SASL_MECHANISM is set: unset it or point KAFKA_BROKERS at a SASL listener`,
      );
    }
    return;
  }
}
