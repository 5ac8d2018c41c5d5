import { checkCredentials, createBackbone, type Backbone } from "../../../shared/backbone.ts";
import { parseConfig } from "../../../shared/config.ts";
import { kafkaAccessError } from "../../../shared/kafka/client.ts";
import { BatonProducer } from "../../../shared/kafka/producer.ts";
import { loadSigner } from "../../../shared/security/record-signature.ts";
import { handleShutdown, type ShutdownStep } from "../../../shared/shutdown.ts";
import { StageMetrics, serveMetrics } from "../../../shared/telemetry/metrics.ts";
import { loadWorkflows } from "../../planner/workflow-file.ts";
import { triggersConfigSchema } from "./config.ts";
import { startTriggers } from "./index.ts";

/** A running triggers process. */
export interface TriggersProcess {
  backbone: Backbone;
  stop(): Promise<void>;
}

/**
 * Runs the workflows' triggers as a process of their own (`baton triggers`): what the gateway does besides HTTP and
 * MCP, for a deployment without it and for tests that run several instances. Stops on SIGTERM or SIGINT.
 */
export async function runTriggers(env: Record<string, string | undefined>): Promise<TriggersProcess> {
  const config = parseConfig(triggersConfigSchema, env);
  const workflows = await loadWorkflows(config.WORKFLOWS_DIR);
  const signer =
    config.BATON_PRINCIPAL === undefined || config.BATON_SIGNING_KEY_FILE === undefined
      ? undefined
      : await loadSigner(config.BATON_PRINCIPAL, config.BATON_SIGNING_KEY_FILE);
  const backbone = createBackbone("baton-triggers", config);
  const { kafka, codec, tracing, logger } = backbone;
  const steps: ShutdownStep[] = [];
  try {
    await checkCredentials(backbone);
    const producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
    const metrics = new StageMetrics("triggers");
    const triggers = await startTriggers({
      backbone,
      producer,
      workflows,
      groupId: config.TRIGGERS_GROUP_ID,
      registry: metrics.registry,
      ...(signer === undefined ? {} : { signer }),
    });
    if (triggers.names.length === 0) logger.warn({ workflows: config.WORKFLOWS_DIR }, "no workflow declares triggers");
    const endpoints = await serveMetrics({ metrics, port: config.METRICS_PORT, ready: () => true, logger });
    steps.push(
      { name: "triggers", run: () => triggers.stop() },
      { name: "producer", run: () => producer.disconnect() },
      { name: "metrics", run: () => endpoints.close() },
      { name: "tracing", run: () => tracing.shutdown() },
    );
  } catch (error) {
    await tracing.shutdown();
    throw kafkaAccessError(error, config.KAFKA_SASL_USERNAME) ?? error;
  }
  handleShutdown({ logger, steps });
  return {
    backbone,
    async stop() {
      for (const step of steps) await step.run();
    },
  };
}
