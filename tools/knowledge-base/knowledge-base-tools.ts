import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { FaultInjector } from "../common/faults.ts";
import type { Logger } from "../common/logger.ts";
import { toolResult } from "../common/tool-result.ts";
import type { SearchIndex } from "./search-index.ts";

/** Input of the `search` tool. */
export const searchInputSchema = z.object({
  query: z.string().trim().min(1).max(2000).describe("The customer's question or request, in plain words"),
  limit: z.number().int().min(1).max(10).default(3).describe("How many articles to return at most"),
});

/** Output of the `search` tool. */
export const searchOutputSchema = z.object({
  found: z.boolean().describe("The best article matches the query well enough to answer it"),
  needsEscalation: z.boolean().describe("Found, and the best article says a person must act (a ticket is needed)"),
  answer: z.string().nullable().describe("The best article's paragraph that answers the query, or null when not found"),
  articles: z
    .array(
      z.object({
        id: z.string(),
        title: z.string(),
        score: z.number().describe("Relevance; higher is better"),
        excerpt: z.string(),
      }),
    )
    .describe("Matching articles, best first"),
});

/** Dependencies of {@link createKnowledgeBaseServer}. */
export interface KnowledgeBaseServerOptions {
  index: SearchIndex;
  faults: FaultInjector;
  logger: Logger;
}

/** An MCP server exposing `search` over the support articles. */
export function createKnowledgeBaseServer(options: KnowledgeBaseServerOptions): McpServer {
  const server = new McpServer({ name: "baton-knowledge-base", version: "0.1.0" });
  server.registerTool(
    "search",
    {
      title: "Search the knowledge base",
      description:
        "Searches the support articles for a customer's question. Returns the best answer when found, and " +
        "needsEscalation=true when the answer says a person must act (for example a refund for a damaged item).",
      inputSchema: searchInputSchema,
      outputSchema: searchOutputSchema,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ query, limit }) =>
      options.faults.around("search", () => {
        const outcome = options.index.search(query, limit);
        const best = outcome.articles[0];
        options.logger.info({ tool: "search", found: outcome.found, best: best?.id, score: best?.score }, "searched");
        const summary = outcome.found
          ? `Found "${best?.title}"${outcome.needsEscalation ? " (needs escalation)" : ""}: ${outcome.answer}`
          : "No article answers this query.";
        return toolResult(summary, outcome satisfies z.output<typeof searchOutputSchema>);
      }),
  );
  return server;
}
