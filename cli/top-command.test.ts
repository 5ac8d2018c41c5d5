import { describe, expect, it } from "vitest";
import { parseEndpointList } from "./top-command.ts";

describe("parseEndpointList", () => {
  it("reads host:port, a base URL or a full metrics URL, comma-separated", () => {
    expect(parseEndpointList("127.0.0.1:9466, http://10.0.0.5:9476 ,https://stage.internal/custom/metrics")).toEqual([
      "http://127.0.0.1:9466/metrics",
      "http://10.0.0.5:9476/metrics",
      "https://stage.internal/custom/metrics",
    ]);
  });

  it("refuses what is not an HTTP endpoint", () => {
    expect(() => parseEndpointList("ftp://host:21")).toThrow(/expected host:port or a URL/);
    expect(() => parseEndpointList("not a host")).toThrow(/expected host:port or a URL/);
  });
});
