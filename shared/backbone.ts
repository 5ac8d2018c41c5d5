import type { BackboneConfig } from "./config.ts";
import { createLogger, type Logger } from "./telemetry/logger.ts";
import { startTracing, type Tracing } from "./telemetry/tracing.ts";
import { createKafka, type KafkaClient } from "./kafka/client.ts";
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
  const registry = new RegistryClient(config.SCHEMA_REGISTRY_URL);
  return {
    service,
    config,
    logger: log,
    tracing,
    kafka: createKafka({
      brokers: config.KAFKA_BROKERS,
      clientId: `${config.KAFKA_CLIENT_ID}-${service}`,
      logger: log,
    }),
    registry,
    codec: new AvroCodec(registry),
  };
}
