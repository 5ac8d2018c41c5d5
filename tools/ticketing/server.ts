import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createFaultInjector } from "../common/faults.ts";
import { createToolLogger } from "../common/logger.ts";
import { exitOnSignal } from "../common/shutdown.ts";
import { loadConfig } from "./config.ts";
import { TicketStore } from "./ticket-store.ts";
import { createTicketingServer } from "./ticketing-tools.ts";

const config = loadConfig();
const logger = createToolLogger("ticketing", config.BATON_LOG_LEVEL);
const server = createTicketingServer({
  store: new TicketStore(config.BATON_TOOLS_DATA_DIR),
  faults: createFaultInjector(config.BATON_TOOLS_FAULTS, logger),
  logger,
});
exitOnSignal(logger, () => server.close());
await server.connect(new StdioServerTransport());
logger.info({ dataDir: config.BATON_TOOLS_DATA_DIR, transport: "stdio" }, "ready");
