import { checkCredentials, createBackbone, type Backbone } from "../shared/backbone.ts";
import { kafkaAccessError } from "../shared/kafka/client.ts";
import { BatonProducer } from "../shared/kafka/producer.ts";
import { createLogger } from "../shared/telemetry/logger.ts";
import { loadCliConfig } from "./config.ts";

/** What CLI commands that talk to the pipeline share: the backbone and a connected producer. */
export interface CliClient {
  backbone: Backbone;
  producer: BatonProducer;
  close(): Promise<void>;
}

/** Connects the CLI as a client of the pipeline (service `baton-cli` in traces). */
export async function openClient(): Promise<CliClient> {
  const config = loadCliConfig();
  const backbone = createBackbone("baton-cli", config, createLogger({ service: "baton-cli", level: "warn" }));
  const { kafka, codec, tracing } = backbone;
  let producer: BatonProducer;
  try {
    await checkCredentials(backbone);
    producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
  } catch (error) {
    await tracing.shutdown();
    throw kafkaAccessError(error, config.KAFKA_SASL_USERNAME) ?? error;
  }
  return {
    backbone,
    producer,
    async close() {
      await producer.disconnect();
      await tracing.shutdown();
    },
  };
}
