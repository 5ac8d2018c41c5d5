import { checkCredentials, createBackbone, type Backbone } from "../../shared/backbone.ts";
import { parseConfigs } from "../../shared/config.ts";
import { kafkaAccessError } from "../../shared/kafka/client.ts";
import { EventFeed } from "../../shared/kafka/event-feed.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { loadSigner } from "../../shared/security/record-signature.ts";
import { handleShutdown, type ShutdownStep } from "../../shared/shutdown.ts";
import type { StageProcess } from "../../shared/stage-process.ts";
import { announceEndpoint } from "../../shared/telemetry/local-endpoints.ts";
import { StageMetrics, serveMetrics } from "../../shared/telemetry/metrics.ts";
import { KafkaGatewayBackend, type GatewayBackend } from "./backend.ts";
import { gatewayConfigSchema, type GatewayConfig } from "./config.ts";
import { buildHttpServer, type McpHttpHandler } from "./http-server.ts";
import { mcpConfigSchema, type McpConfig } from "./mcp/config.ts";
import { createMcpHttpHandler } from "./mcp/http.ts";
import { KafkaMcpBackend } from "./mcp/kafka-backend.ts";
import { startTriggers } from "./triggers/index.ts";

/** What the gateway's front doors share: its settings, the backbone, a producer, the event feed, the backend. */
export interface GatewayContext {
  config: GatewayConfig;
  /** The MCP server's settings: the workflows and policy file it serves, how long a call waits. */
  mcpConfig: McpConfig;
  metrics: StageMetrics;
  backbone: Backbone;
  producer: BatonProducer;
  feed: EventFeed;
  backend: GatewayBackend;
}

/** The front doors besides the HTTP API's own routes: the MCP server's handler for `/mcp`, and the triggers. */
export interface FrontDoors {
  mcp?: McpHttpHandler;
  shutdown: ShutdownStep[];
}

/**
 * The MCP server at `/mcp` (on the gateway's own connections) and the workflows' triggers (cron and topic), which
 * fire through the gateway's producer. Their stops run before the connections they share close.
 */
async function startFrontDoors(context: GatewayContext): Promise<FrontDoors> {
  const { config, mcpConfig, backbone, producer, feed, metrics } = context;
  const mcpBackend = await KafkaMcpBackend.start(mcpConfig, {
    service: "baton-gateway",
    logger: backbone.logger,
    shared: { backbone, producer, feed },
  });
  const mcp = createMcpHttpHandler(mcpBackend, { waitMs: mcpConfig.MCP_WAIT_MS, logger: backbone.logger });
  const signer =
    config.BATON_PRINCIPAL === undefined || config.BATON_SIGNING_KEY_FILE === undefined
      ? undefined
      : await loadSigner(config.BATON_PRINCIPAL, config.BATON_SIGNING_KEY_FILE);
  const triggers = await startTriggers({
    backbone,
    producer,
    workflows: mcpBackend.workflows,
    groupId: config.TRIGGERS_GROUP_ID,
    registry: metrics.registry,
    ...(signer === undefined ? {} : { signer }),
  });
  return {
    mcp: (req, res, body) => mcp.handleMcpHttpRequest(req, res, body),
    shutdown: [
      { name: "triggers", run: () => triggers.stop() },
      { name: "mcp sessions", run: () => mcp.close() },
      { name: "mcp backend", run: () => mcpBackend.close() },
    ],
  };
}

/**
 * Starts the gateway: the HTTP API (requests in, their status, their progress as Server-Sent Events) on
 * GATEWAY_HOST:GATEWAY_PORT, and its other front doors. Stateless: run as many as you like, each on its own port.
 */
export async function runGateway(env: Record<string, string | undefined>): Promise<StageProcess & { url: string }> {
  // The gateway's settings and its MCP server's, checked together: a bad environment is told in one error.
  const [config, mcpConfig] = parseConfigs([gatewayConfigSchema, mcpConfigSchema], env);
  const signer =
    config.BATON_PRINCIPAL === undefined || config.BATON_SIGNING_KEY_FILE === undefined
      ? undefined
      : await loadSigner(config.BATON_PRINCIPAL, config.BATON_SIGNING_KEY_FILE);
  const backbone = createBackbone("baton-gateway", config);
  const { kafka, codec, tracing, logger } = backbone;
  let producer: BatonProducer;
  const feed = new EventFeed({ kafka, codec });
  try {
    await checkCredentials(backbone);
    producer = await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer });
    await feed.start();
  } catch (error) {
    await tracing.shutdown();
    throw kafkaAccessError(error, config.KAFKA_SASL_USERNAME) ?? error;
  }
  const backend = new KafkaGatewayBackend({
    kafka,
    codec,
    producer,
    feed,
    signer,
    submitTimeoutMs: config.GATEWAY_SUBMIT_TIMEOUT_MS,
  });
  const metrics = new StageMetrics("gateway");
  const doors = await startFrontDoors({ config, mcpConfig, metrics, backbone, producer, feed, backend });
  const app = await buildHttpServer({ backend, logger, ...(doors.mcp === undefined ? {} : { mcp: doors.mcp }) });
  await app.listen({ host: config.GATEWAY_HOST, port: config.GATEWAY_PORT });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.GATEWAY_PORT;
  const url = `http://${config.GATEWAY_HOST}:${port}`;

  metrics.trackSpanExport(() => tracing.exportCounts());
  const endpoints = await serveMetrics({ metrics, port: config.METRICS_PORT, ready: () => true, logger });
  const withdraw = await announceEndpoint({ stage: "gateway", port: endpoints.port }).catch(
    () => () => Promise.resolve(),
  );
  const steps: ShutdownStep[] = [
    { name: "http", run: () => app.close() },
    ...doors.shutdown,
    { name: "event feed", run: () => feed.stop() },
    { name: "producer", run: () => producer.disconnect() },
    { name: "metrics", run: () => endpoints.close() },
    { name: "metrics endpoint file", run: withdraw },
    { name: "tracing", run: () => tracing.shutdown() },
  ];
  handleShutdown({ logger, steps });
  logger.info({ stage: "gateway", url, openapi: `${url}/openapi.json`, metricsPort: endpoints.port }, "stage running");
  return {
    backbone,
    url,
    async stop() {
      for (const step of steps) await step.run();
    },
  };
}
