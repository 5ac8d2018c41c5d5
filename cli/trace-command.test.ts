import { describe, expect, it } from "vitest";
import { parseConfig } from "../shared/config.ts";
import { formatAge, noTraceMessage, traceConfigSchema } from "./trace-command.ts";

describe("traceConfigSchema", () => {
  it("reads ZIPKIN_URL first, then the Zipkin the processes export to, then the local stack's", () => {
    const zipkinUrl = (env: Record<string, string>) => parseConfig(traceConfigSchema, env).zipkinUrl;
    expect(
      zipkinUrl({ ZIPKIN_URL: "http://zipkin:9411/", OTEL_EXPORTER_ZIPKIN_ENDPOINT: "http://other:9411/api/v2/spans" }),
    ).toBe("http://zipkin:9411");
    expect(zipkinUrl({ OTEL_EXPORTER_ZIPKIN_ENDPOINT: "http://other:9411/api/v2/spans" })).toBe("http://other:9411");
    expect(zipkinUrl({})).toBe("http://127.0.0.1:9411");
  });

  it("names a bad ZIPKIN_URL", () => {
    expect(() => parseConfig(traceConfigSchema, { ZIPKIN_URL: "not a url" })).toThrow(/ZIPKIN_URL/);
  });
});

describe("noTraceMessage", () => {
  it("says what was searched and what to check", () => {
    const message = noTraceMessage({
      zipkinUrl: "http://127.0.0.1:9411",
      requestId: "r-1",
      lookbackMs: 7_200_000,
      limit: 10,
    });
    expect(message).toContain(
      "no trace found for request r-1 in Zipkin at http://127.0.0.1:9411 (searched the last 2h)",
    );
    expect(message).toContain("OTEL_TRACES_EXPORTER");
    expect(message).toContain("a few seconds");
    expect(formatAge(90_000)).toBe("90s");
    expect(formatAge(5_400_000)).toBe("90m");
  });
});
