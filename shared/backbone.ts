import type { BackboneConfig } from "./config.ts";
import { createLogger, type Logger } from "./telemetry/logger.ts";
import { startTracing, type Tracing } from "./telemetry/tracing.ts";
import {
  checkKafkaAuthentication,
  createKafka,
  type KafkaClient,
  type KafkaConnectionOptions,
} from "./kafka/client.ts";
import { kafkaSecurityOf, registryAuthorizationOf } from "./security/security-config.ts";
import { RegistryClient } from "./schemas/registry.ts";
import { AvroCodec } from "./schemas/codec.ts";

/** Everything a Baton process builds once at start: logs, traces, Kafka, the registry and the codec. */
export interface Backbone {
  service: string;
  config: BackboneConfig;
  logger: Logger;
  tracing: Tracing;
  kafka: KafkaClient;
  registry: RegistryClient;
  codec: AvroCodec;
}

/** Builds a process's backbone from its parsed config; nothing connects until a producer or consumer does. */
export function createBackbone(service: string, config: BackboneConfig, logger?: Logger): Backbone {
  const log = logger ?? createLogger({ service, level: config.BATON_LOG_LEVEL });
  const tracing = startTracing({ serviceName: service, config });
  const registry = new RegistryClient(config.SCHEMA_REGISTRY_URL, registryAuthorizationOf(config));
  return {
    service,
    config,
    logger: log,
    tracing,
    kafka: createKafka(kafkaConnectionOf(config, `${config.KAFKA_CLIENT_ID}-${service}`, log)),
    registry,
    codec: new AvroCodec(registry),
  };
}

/** Where and as whom a process connects to Kafka, from its config. */
export function kafkaConnectionOf(config: BackboneConfig, clientId: string, logger: Logger): KafkaConnectionOptions {
  return { brokers: config.KAFKA_BROKERS, clientId, logger, security: kafkaSecurityOf(config) };
}

/**
 * Checks a process's credentials before it starts work: Kafka's listener wants the SASL it is configured with, and
 * the registry accepts it. A bad or missing credential stops the start with one line, not a retry loop.
 */
export async function checkCredentials(backbone: Backbone): Promise<void> {
  await checkKafkaAuthentication(kafkaConnectionOf(backbone.config, backbone.config.KAFKA_CLIENT_ID, backbone.logger));
  await backbone.registry.checkAccess();
}
