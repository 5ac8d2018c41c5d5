import { randomUUID } from "node:crypto";
import type { Command } from "commander";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { parseConfig } from "../shared/config.ts";
import { BatonError } from "../shared/errors.ts";
import { loadPolicy } from "../shared/policy-file.ts";
import { createLogger } from "../shared/telemetry/logger.ts";
import { mcpConfigSchema } from "../services/gateway/mcp/config.ts";
import { KafkaMcpBackend } from "../services/gateway/mcp/kafka-backend.ts";
import { createMcpServer } from "../services/gateway/mcp/server.ts";
import { resolveTenant } from "../services/gateway/mcp/tenant.ts";

function fail(message: string, code: 1 | 2, hint?: string): never {
  process.stderr.write(`error: ${message}\n`);
  if (hint !== undefined) process.stderr.write(`hint: ${hint}\n`);
  process.exit(code);
}

/**
 * `baton mcp`: Baton as an MCP server on stdio, for an MCP host that starts it. stdout is the MCP channel, so
 * everything else (logs, errors) goes to stderr. Runs until the host closes stdin, or SIGTERM/Ctrl-C.
 */
export function registerMcpCommand(program: Command): void {
  program
    .command("mcp")
    .description("serve Baton as an MCP server on stdio (run_workflow, get_request, list_approvals, <server>.<tool>)")
    .option("--tenant <tenant>", "the tenant whose policy applies (or BATON_MCP_TOKEN: a token the policy maps to one)")
    .addHelpText(
      "after",
      `
An MCP host starts it; stdout carries MCP, logs go to stderr. Settings from the environment: WORKFLOWS_DIR,
POLICY_FILE, BATON_MCP_TOKEN, MCP_WAIT_MS, BATON_PRINCIPAL/BATON_SIGNING_KEY_FILE, and Kafka's as for any stage.

Example (an MCP host's configuration):
  { "mcpServers": { "baton": { "command": "npx", "args": ["baton", "mcp", "--tenant", "demo"] } } }
`,
    )
    .action(async (options: { tenant?: string }) => {
      let config;
      try {
        config = parseConfig(mcpConfigSchema, process.env);
      } catch (error) {
        fail((error as Error).message, 1);
      }
      if (config.OTEL_TRACES_EXPORTER === "console")
        fail(
          "OTEL_TRACES_EXPORTER=console writes to stdout, which is the MCP channel of baton mcp",
          2,
          "use zipkin, otlp or none",
        );
      const policy = await loadPolicy(config.POLICY_FILE).catch((error: unknown) => fail((error as Error).message, 1));
      const resolved = resolveTenant(policy, { token: config.BATON_MCP_TOKEN, tenant: options.tenant });
      if ("problem" in resolved)
        fail(`baton mcp: ${resolved.problem}`, 2, "baton mcp --tenant demo, or set BATON_MCP_TOKEN");
      const logger = createLogger({ service: "baton-mcp", level: config.BATON_LOG_LEVEL });
      let backend: KafkaMcpBackend;
      try {
        backend = await KafkaMcpBackend.start(config, { service: "baton-mcp", logger });
      } catch (error) {
        const unreachable =
          error instanceof BatonError && (error.code === "KAFKA_UNAVAILABLE" || error.code === "REGISTRY_UNAVAILABLE");
        fail(
          `baton mcp cannot start: ${(error as Error).message}`,
          1,
          unreachable ? "is the local stack up? run `baton stack up`" : undefined,
        );
      }
      const server = createMcpServer(backend, {
        tenant: resolved.tenant,
        sessionId: randomUUID(),
        waitMs: config.MCP_WAIT_MS,
      });
      let stopping = false;
      const stop = async (): Promise<void> => {
        if (stopping) return;
        stopping = true;
        await server.close().catch(() => undefined);
        await backend.close().catch(() => undefined);
        process.exit(0);
      };
      process.stdin.once("end", () => void stop());
      process.once("SIGTERM", () => void stop());
      process.once("SIGINT", () => void stop());
      await server.connect(new StdioServerTransport());
      logger.info({ tenant: resolved.tenant }, "serving MCP on stdio");
    });
}
