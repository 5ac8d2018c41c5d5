import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { createOutboxServer, type OutboxServerOptions } from "./outbox-tools.ts";

function sendJson(
  response: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(value));
}

async function handleMcp(
  options: OutboxServerOptions,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  if (request.method !== "POST") {
    const message = "Method not allowed: this server is stateless, use POST.";
    sendJson(response, 405, { jsonrpc: "2.0", error: { code: -32000, message }, id: null }, { allow: "POST" });
    return;
  }
  const server = createOutboxServer(options);
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  response.on("close", () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(request, response);
}

/**
 * The outbox over HTTP: stateless Streamable HTTP MCP at `POST /mcp` (a fresh MCP server per request, JSON
 * responses) and `GET /healthz` answering 200 once the server listens.
 */
export function createOutboxHttpServer(options: OutboxServerOptions): Server {
  return createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    if (path === "/healthz" && request.method === "GET") {
      sendJson(response, 200, { status: "ok" });
      return;
    }
    if (path !== "/mcp") {
      sendJson(response, 404, { error: `no route ${request.method} ${path}; MCP is at /mcp` });
      return;
    }
    handleMcp(options, request, response).catch((error: unknown) => {
      options.logger.error({ err: error }, "MCP request failed");
      if (!response.headersSent) {
        sendJson(response, 500, {
          jsonrpc: "2.0",
          error: { code: -32603, message: "Internal server error" },
          id: null,
        });
      }
    });
  });
}
