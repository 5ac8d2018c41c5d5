import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createFaultInjector } from "../common/faults.ts";
import { createToolLogger } from "../common/logger.ts";
import { exitOnSignal } from "../common/shutdown.ts";
import { loadArticles } from "./article.ts";
import { loadConfig } from "./config.ts";
import { createKnowledgeBaseServer } from "./knowledge-base-tools.ts";
import { SearchIndex } from "./search-index.ts";

const config = loadConfig();
const logger = createToolLogger("knowledge-base", config.BATON_LOG_LEVEL);
const articles = await loadArticles(config.KNOWLEDGE_BASE_DOCUMENTS_DIR);
const server = createKnowledgeBaseServer({
  index: new SearchIndex(articles),
  faults: createFaultInjector(config.BATON_TOOLS_FAULTS, logger),
  logger,
});
exitOnSignal(logger, () => server.close());
await server.connect(new StdioServerTransport());
logger.info({ articles: articles.length, transport: "stdio" }, "ready");
