import type { AddressInfo } from "node:net";
import { createFaultInjector } from "../common/faults.ts";
import { createToolLogger } from "../common/logger.ts";
import { exitOnSignal } from "../common/shutdown.ts";
import { loadConfig } from "./config.ts";
import { createOutboxHttpServer } from "./http-server.ts";

const config = loadConfig();
const logger = createToolLogger("outbox", config.BATON_LOG_LEVEL);
const httpServer = createOutboxHttpServer({
  dataDir: config.BATON_TOOLS_DATA_DIR,
  faults: createFaultInjector(config.BATON_TOOLS_FAULTS, logger),
  logger,
});

httpServer.on("error", (error) => {
  logger.fatal({ err: error, host: config.OUTBOX_HOST, port: config.OUTBOX_PORT }, "cannot listen");
  process.exit(1);
});
exitOnSignal(logger, async () => {
  httpServer.closeAllConnections();
  await new Promise<void>((resolve, reject) => httpServer.close((error) => (error ? reject(error) : resolve())));
});
httpServer.listen(config.OUTBOX_PORT, config.OUTBOX_HOST, () => {
  const { address, port } = httpServer.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  logger.info({ url: `http://${host}:${port}/mcp`, dataDir: config.BATON_TOOLS_DATA_DIR }, "listening");
});
