import { parseConfig } from "../../shared/config.ts";
import type { ToolCall } from "../../shared/schemas/records.ts";
import { injectTraceContext } from "../../shared/telemetry/propagation.ts";
import { startStageProcess, type StageProcess } from "../../shared/stage-process.ts";
import { executorConfigSchema } from "./config.ts";
import { executeCall } from "./executor.ts";
import { McpConnections } from "./mcp-connections.ts";
import { loadServers } from "./servers-file.ts";

/** Starts the executor: connects the MCP servers, publishes their catalogues, runs cleared calls. */
export async function runExecutor(env: Record<string, string | undefined>): Promise<StageProcess> {
  const config = parseConfig(executorConfigSchema, env);
  const servers = await loadServers(config.MCP_SERVERS_FILE);
  return startStageProcess<ToolCall>({
    stage: "executor",
    config,
    topics: ["baton.allowed-calls"],
    partitionsConsumedConcurrently: config.EXECUTOR_CONCURRENCY,
    concurrentWithinPartition: true,
    maxBatchSize: 64,
    async setup({ backbone, producer }) {
      const connections = new McpConnections({ logger: backbone.logger, cwd: config.MCP_SERVERS_CWD });
      await connections.connect(servers);
      const catalogues = await connections.catalogues(Date.now());
      await producer.send(
        catalogues.map((catalogue) => ({ topic: "baton.tool-catalogs", key: catalogue.server, value: catalogue })),
      );
      backbone.logger.info(
        { tools: catalogues.flatMap((catalogue) => catalogue.tools.map((tool) => tool.name)) },
        "tool catalogue published",
      );
      return {
        handler: async (message) => ({
          messages: [
            await executeCall(message.value, connections, { now: Date.now, traceHeaders: injectTraceContext() }),
          ],
        }),
        shutdown: [{ name: "mcp", run: () => connections.close() }],
      };
    },
  });
}
