import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "../../../shared/telemetry/logger.ts";
import type { McpBackend } from "./backend.ts";
import { createMcpServer } from "./server.ts";
import { resolveTenant } from "./tenant.ts";

/** The header naming a connection's tenant when the policy file declares no tokens. */
export const tenantHeader = "x-baton-tenant";

/** Baton's MCP endpoint over Streamable HTTP, to mount at `/mcp` (POST, GET and DELETE). */
export interface McpHttpHandler {
  /**
   * Serves one HTTP request of the MCP Streamable HTTP transport; `body` is the parsed JSON body of a POST (undefined
   * for GET and DELETE).
   */
  handleMcpHttpRequest(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void>;
  /** Closes every session. */
  close(): Promise<void>;
}

/** Options of {@link createMcpHttpHandler}. */
export interface McpHttpHandlerOptions {
  /** How long a tool call waits for its run's response (MCP_WAIT_MS). */
  waitMs: number;
  /** A session nobody used for this long is closed (30 minutes). */
  idleSessionMs?: number;
  logger?: Logger;
}

interface Session {
  tenant: string;
  transport: StreamableHTTPServerTransport;
  server: Server;
  lastSeen: number;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function bearerToken(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(header(req, "authorization") ?? "");
  return match?.[1]?.trim();
}

function refuse(res: ServerResponse, status: number, message: string, extraHeaders: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...extraHeaders });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }));
}

/**
 * Baton's MCP server over Streamable HTTP, one session per client (Mcp-Session-Id), each bound to the tenant its
 * initialize request's credentials named: a bearer token the policy file maps to a tenant, or the X-Baton-Tenant
 * header when the policy file declares no tokens. Every later request of a session must name the same tenant.
 * Sessions live in this process: behind several gateways, route a session to the one that opened it.
 */
export function createMcpHttpHandler(backend: McpBackend, options: McpHttpHandlerOptions): McpHttpHandler {
  const sessions = new Map<string, Session>();
  const idleSessionMs = options.idleSessionMs ?? 30 * 60_000;
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, session] of sessions) {
      if (now - session.lastSeen > idleSessionMs) {
        sessions.delete(id);
        session.transport.close().catch(() => undefined);
      }
    }
  }, 60_000);
  sweep.unref();

  return {
    async handleMcpHttpRequest(req, res, body) {
      const credentials = { token: bearerToken(req), tenant: header(req, tenantHeader) };
      const resolved = resolveTenant(backend.policy, credentials);
      if ("problem" in resolved) {
        refuse(res, 401, `not authorised: ${resolved.problem}`, { "www-authenticate": 'Bearer realm="baton"' });
        return;
      }
      const sessionId = header(req, "mcp-session-id");
      if (sessionId !== undefined) {
        const session = sessions.get(sessionId);
        if (session === undefined) {
          refuse(
            res,
            404,
            `session ${sessionId} is not known here (it ended, or another gateway opened it): initialize again`,
          );
          return;
        }
        if (session.tenant !== resolved.tenant) {
          refuse(res, 403, `session ${sessionId} belongs to another tenant`);
          return;
        }
        session.lastSeen = Date.now();
        await session.transport.handleRequest(req, res, body);
        return;
      }
      if (req.method !== "POST" || !isInitializeRequest(body)) {
        refuse(res, 400, "no Mcp-Session-Id: start a session with an initialize request");
        return;
      }
      const id = randomUUID();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => id });
      const server = createMcpServer(backend, { tenant: resolved.tenant, sessionId: id, waitMs: options.waitMs });
      transport.onclose = () => {
        sessions.delete(id);
      };
      await server.connect(transport);
      sessions.set(id, { tenant: resolved.tenant, transport, server, lastSeen: Date.now() });
      options.logger?.info({ sessionId: id, tenant: resolved.tenant }, "MCP session opened");
      await transport.handleRequest(req, res, body);
    },

    async close() {
      clearInterval(sweep);
      const open = [...sessions.values()];
      sessions.clear();
      await Promise.allSettled(open.map((session) => session.server.close()));
    },
  };
}
