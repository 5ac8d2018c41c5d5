import { checkCredentials, createBackbone, type Backbone } from "./backbone.ts";
import { kafkaAccessError } from "./kafka/client.ts";
import type { BackboneConfig } from "./config.ts";
import { BatonProducer } from "./kafka/producer.ts";
import { StageRunner, type OwnedPartitions, type StageHandler } from "./kafka/stage-runner.ts";
import { handleShutdown, type ShutdownStep } from "./shutdown.ts";
import { isCoPartitioned, retryLadder } from "./topics.ts";
import { StageMetrics, serveMetrics } from "./telemetry/metrics.ts";
import { announceEndpoint } from "./telemetry/local-endpoints.ts";
import { onLlmUsage } from "./telemetry/llm-usage.ts";

/** Options for {@link startStageProcess}. */
export interface StageProcessOptions<T> {
  /** The stage's name: service name in logs and traces, and the consumer group `baton-<stage>`. */
  stage: string;
  config: BackboneConfig;
  topics: string[];
  partitionsConsumedConcurrently?: number;
  /** Port of /metrics, /healthz and /readyz (a free port when it is taken). */
  metricsPort: number;
  /** Commit each chunk's messages and offsets in one Kafka transaction (see StageRunnerOptions). */
  transactional?: boolean;
  /** Handle up to this many of a partition's messages at once, off the poll loop (see StageRunnerOptions). */
  maxInFlightPerPartition?: number;
  /** Most messages handled per produce request and commit. */
  maxBatchSize?: number;
  /** How long the group waits for a silent member (see StageRunnerOptions). */
  sessionTimeoutMs?: number;
  /** Topics the stage keeps state in, co-partitioned with its inputs (see StageRunnerOptions). */
  stateTopics?: string[];
  /** Builds the handler once the backbone and producer exist; returns the handler and extra shutdown steps. */
  setup(context: { backbone: Backbone; producer: BatonProducer; metrics: StageMetrics }): Promise<{
    handler: StageHandler<T>;
    onAssigned?: (owned: OwnedPartitions) => Promise<void>;
    onChunkAborted?: (topic: string, partition: number) => void;
    shutdown?: ShutdownStep[];
  }>;
}

/** A running stage process. */
export interface StageProcess {
  backbone: Backbone;
  stop(): Promise<void>;
}

/**
 * The wiring every stage's main.ts shares: backbone, producer, runner in group `baton-<stage>`, and an
 * orderly stop on SIGTERM/SIGINT (stop consuming, finish in flight, commit, flush producer and spans).
 */
export async function startStageProcess<T>(options: StageProcessOptions<T>): Promise<StageProcess> {
  const backbone = createBackbone(`baton-${options.stage}`, options.config);
  try {
    await checkCredentials(backbone);
    return await startStage(backbone, options);
  } catch (error) {
    // A refused credential or ACL is said in one line naming the principal; kafkajs has given up on it already.
    throw kafkaAccessError(error, options.config.KAFKA_SASL_USERNAME) ?? error;
  }
}

async function startStage<T>(backbone: Backbone, options: StageProcessOptions<T>): Promise<StageProcess> {
  const { kafka, codec, tracing, logger } = backbone;
  const producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
  const metrics = new StageMetrics(options.stage);
  metrics.trackSpanExport(() => tracing.exportCounts());
  onLlmUsage((usage) => metrics.countLlmUsage(usage));
  const { handler, onAssigned, onChunkAborted, shutdown = [] } = await options.setup({ backbone, producer, metrics });
  const runner = new StageRunner<T>({
    stage: options.stage,
    groupId: `baton-${options.stage}`,
    topics: options.topics,
    kafka,
    codec,
    producer,
    tracer: tracing.tracer,
    logger,
    handler,
    metrics,
    onConsumerGaveUp: (error) => {
      // An ACL taken away or never granted (the group, a transactional id) leaves the consumer dead: exit so
      // whoever runs the stage sees why, instead of a stage that looks alive and reads nothing.
      const refusal = kafkaAccessError(error, options.config.KAFKA_SASL_USERNAME);
      if (refusal === undefined) return;
      process.stderr.write(`error: ${options.stage} stopped: ${refusal.message}\n`);
      process.exit(1);
    },
    retryDelaysMs: new Map(options.topics.map((topic) => [topic, retryLadder(topic)])),
    keepsPartition: isCoPartitioned,
    ...(options.transactional === true
      ? {
          transactionalProducer: (transactionalId: string) =>
            BatonProducer.connect({ kafka, codec, tracer: tracing.tracer, transactionalId }),
        }
      : {}),
    ...(onAssigned === undefined ? {} : { onAssigned }),
    ...(onChunkAborted === undefined ? {} : { onChunkAborted }),
    ...(options.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: options.sessionTimeoutMs }),
    ...(options.stateTopics === undefined ? {} : { stateTopics: options.stateTopics }),
    ...(options.maxInFlightPerPartition === undefined
      ? {}
      : { maxInFlightPerPartition: options.maxInFlightPerPartition }),
    ...(options.maxBatchSize === undefined ? {} : { maxBatchSize: options.maxBatchSize }),
    ...(options.partitionsConsumedConcurrently === undefined
      ? {}
      : { partitionsConsumedConcurrently: options.partitionsConsumedConcurrently }),
  });
  const steps: ShutdownStep[] = [
    { name: "consumer", run: () => runner.stop() },
    ...shutdown,
    { name: "producer", run: () => producer.disconnect() },
    { name: "tracing", run: () => tracing.shutdown() },
  ];
  const endpoints = await serveMetrics({ metrics, port: options.metricsPort, ready: () => runner.ready, logger });
  steps.push({ name: "metrics", run: () => endpoints.close() });
  // Tells `baton top` on this machine where this instance's metrics are; optional where the disk is read-only.
  const withdraw = await announceEndpoint({ stage: options.stage, port: endpoints.port }).catch((error: unknown) => {
    logger.debug({ err: error }, "cannot announce the metrics endpoint locally");
    return () => Promise.resolve();
  });
  steps.push({ name: "metrics endpoint file", run: withdraw });
  handleShutdown({ logger, steps });
  await runner.start();
  logger.info({ stage: options.stage, topics: options.topics, metricsPort: endpoints.port }, "stage running");
  return {
    backbone,
    async stop() {
      for (const step of steps) await step.run();
    },
  };
}
