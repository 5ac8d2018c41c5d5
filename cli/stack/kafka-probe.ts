import { connect } from "node:net";

const apiVersionsKey = 18;

/** What a broker's ApiVersions answer says about it. */
export interface ApiVersionsResponse {
  correlationId: number;
  errorCode: number;
  apiKeyCount: number;
}

/** A length-prefixed ApiVersions v0 request: the first request every Kafka client sends, answered by any broker version. */
export function encodeApiVersionsRequest(correlationId: number, clientId: string): Buffer {
  const client = Buffer.from(clientId, "utf8");
  const frame = Buffer.alloc(4 + 10 + client.length);
  frame.writeInt32BE(10 + client.length, 0);
  frame.writeInt16BE(apiVersionsKey, 4);
  frame.writeInt16BE(0, 6);
  frame.writeInt32BE(correlationId, 8);
  frame.writeInt16BE(client.length, 12);
  client.copy(frame, 14);
  return frame;
}

/** Decodes an ApiVersions v0 response frame; undefined while `data` does not yet hold the whole frame. */
export function decodeApiVersionsResponse(data: Buffer): ApiVersionsResponse | undefined {
  if (data.length < 4) return undefined;
  const size = data.readInt32BE(0);
  if (size < 6) throw new RangeError(`an ApiVersions response of ${size} bytes is too short`);
  if (data.length < 4 + size) return undefined;
  return {
    correlationId: data.readInt32BE(4),
    errorCode: data.readInt16BE(8),
    apiKeyCount: size >= 10 ? data.readInt32BE(10) : 0,
  };
}

/** True when a Kafka broker at host:port answers an ApiVersions request without error within `timeoutMs`. */
export function probeKafkaBroker(host: string, port: number, timeoutMs = 2_000): Promise<boolean> {
  const correlationId = Math.floor(Math.random() * 0x7fffffff);
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    const socket = connect({ host, port });
    const finish = (ready: boolean): void => {
      socket.destroy();
      resolve(ready);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on("error", () => finish(false));
    socket.on("connect", () => socket.write(encodeApiVersionsRequest(correlationId, "baton-stack")));
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      try {
        const response = decodeApiVersionsResponse(received);
        if (response !== undefined) finish(response.correlationId === correlationId && response.errorCode === 0);
      } catch {
        finish(false);
      }
    });
    socket.on("close", () => finish(false));
  });
}
