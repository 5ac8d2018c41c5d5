import { createServer } from "node:net";

/** True when nothing listens on host:port, found by binding it for a moment (a listener on any address counts). */
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The command that shows which process holds a port, for error messages. */
export function portOwnerHint(port: number): string {
  return `ss -ltnp 'sport = :${port}'`;
}
