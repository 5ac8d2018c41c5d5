import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { isPortFree, portOwnerHint } from "./port-check.ts";

describe("isPortFree", () => {
  it("is false while something listens on the port and true once it stops", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    expect(await isPortFree("127.0.0.1", port)).toBe(false);
    await new Promise((resolve) => server.close(resolve));
    expect(await isPortFree("127.0.0.1", port)).toBe(true);
  });

  it("tells people how to find a port's owner", () => {
    expect(portOwnerHint(9092)).toBe("ss -ltnp 'sport = :9092'");
  });
});
