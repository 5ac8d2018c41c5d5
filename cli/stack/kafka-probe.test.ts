import { createServer } from "node:net";
import type { AddressInfo, Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { decodeApiVersionsResponse, encodeApiVersionsRequest, probeKafkaBroker } from "./kafka-probe.ts";

function response(correlationId: number, errorCode: number): Buffer {
  const frame = Buffer.alloc(4 + 4 + 2 + 4);
  frame.writeInt32BE(10, 0);
  frame.writeInt32BE(correlationId, 4);
  frame.writeInt16BE(errorCode, 8);
  frame.writeInt32BE(0, 10);
  return frame;
}

describe("ApiVersions encoding", () => {
  it("frames an ApiVersions v0 request with its size, key, version, correlation id and client id", () => {
    const frame = encodeApiVersionsRequest(7, "ab");
    expect(frame.readInt32BE(0)).toBe(frame.length - 4);
    expect(frame.readInt16BE(4)).toBe(18);
    expect(frame.readInt16BE(6)).toBe(0);
    expect(frame.readInt32BE(8)).toBe(7);
    expect(frame.readInt16BE(12)).toBe(2);
    expect(frame.subarray(14).toString()).toBe("ab");
  });

  it("decodes a whole response and waits for more bytes on a partial one", () => {
    const whole = response(7, 0);
    expect(decodeApiVersionsResponse(whole.subarray(0, 9))).toBeUndefined();
    expect(decodeApiVersionsResponse(whole)).toEqual({ correlationId: 7, errorCode: 0, apiKeyCount: 0 });
  });
});

describe("probeKafkaBroker", () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  async function fakeBroker(errorCode: number): Promise<number> {
    server = createServer((socket) => {
      socket.once("data", (request: Buffer) => socket.end(response(request.readInt32BE(8), errorCode)));
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    return (server?.address() as AddressInfo).port;
  }

  it("is true when the broker answers ApiVersions without error", async () => {
    expect(await probeKafkaBroker("127.0.0.1", await fakeBroker(0))).toBe(true);
  });

  it("is false when the broker answers with an error", async () => {
    expect(await probeKafkaBroker("127.0.0.1", await fakeBroker(35))).toBe(false);
  });

  it("is false when nothing listens", async () => {
    const port = await fakeBroker(0);
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
    expect(await probeKafkaBroker("127.0.0.1", port)).toBe(false);
  });

  it("is false when something listens but never answers", async () => {
    server = createServer(() => {});
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    expect(await probeKafkaBroker("127.0.0.1", (server.address() as AddressInfo).port, 200)).toBe(false);
  });
});
