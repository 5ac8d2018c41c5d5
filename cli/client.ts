import { checkCredentials, createBackbone, type Backbone } from "../shared/backbone.ts";
import { kafkaAccessError } from "../shared/kafka/client.ts";
import { BatonProducer } from "../shared/kafka/producer.ts";
import { createLogger } from "../shared/telemetry/logger.ts";
import { loadCliConfig } from "./config.ts";
import { loadSigner, signRecord, type Signer } from "../shared/security/record-signature.ts";
import type { TextHeaders } from "../shared/kafka/headers.ts";

/** The headers that sign a record this CLI writes to a topic, or none when it signs nothing. */
export function signatureHeaders(client: Pick<CliClient, "signer">, topic: string, value: unknown): TextHeaders {
  return client.signer === undefined ? {} : signRecord(topic, value, client.signer);
}

/** What CLI commands that talk to the pipeline share: the backbone and a connected producer. */
export interface CliClient {
  backbone: Backbone;
  producer: BatonProducer;
  /** Who signs the requests and decisions this CLI writes (BATON_PRINCIPAL), if anyone. */
  signer: Signer | undefined;
  close(): Promise<void>;
}

/** Connects the CLI as a client of the pipeline (service `baton-cli` in traces). */
export async function openClient(overrides: Record<string, string> = {}): Promise<CliClient> {
  const config = loadCliConfig(overrides);
  const signer =
    config.BATON_PRINCIPAL === undefined || config.BATON_SIGNING_KEY_FILE === undefined
      ? undefined
      : await loadSigner(config.BATON_PRINCIPAL, config.BATON_SIGNING_KEY_FILE);
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
    signer,
    async close() {
      await producer.disconnect();
      await tracing.shutdown();
    },
  };
}
