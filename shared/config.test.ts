import { describe, it, expect } from "vitest";
import { z } from "zod";
import {
  backboneConfigSchema,
  parseConfig,
  parseConfigs,
  refineSigningKey,
  signingKeyShape,
  workflowsDirKey,
} from "./config.ts";
import { BatonError } from "./errors.ts";

function configError(run: () => unknown): BatonError {
  try {
    run();
  } catch (error) {
    if (error instanceof BatonError) return error;
    throw error;
  }
  throw new Error("expected parseConfig to throw");
}

describe("parseConfig with the backbone schema", () => {
  it("an empty environment yields defaults that reach the local stack", () => {
    const config = parseConfig(backboneConfigSchema, {});
    expect(config.KAFKA_BROKERS).toEqual(["127.0.0.1:9092"]);
    expect(config.KAFKA_CLIENT_ID).toBe("baton");
    expect(new URL(config.SCHEMA_REGISTRY_URL).host).toBe("127.0.0.1:8081");
    expect(config.BATON_LOG_LEVEL).toBe("info");
    expect(config.OTEL_TRACES_EXPORTER).toBe("zipkin");
    expect(new URL(config.OTEL_EXPORTER_ZIPKIN_ENDPOINT).host).toBe("127.0.0.1:9411");
    expect(config.OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
  });

  it("a comma list of brokers becomes one trimmed entry per broker", () => {
    const brokers = ["kafka-1:9092", "kafka-2:9093", "10.0.0.7:19092"];
    const config = parseConfig(backboneConfigSchema, { KAFKA_BROKERS: ` ${brokers[0]}, ${brokers[1]} ,${brokers[2]}` });
    expect(config.KAFKA_BROKERS).toEqual(brokers);
  });

  it("set variables win over defaults", () => {
    const env = {
      KAFKA_CLIENT_ID: "planner",
      BATON_LOG_LEVEL: "debug",
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
    };
    const config = parseConfig(backboneConfigSchema, env);
    expect(config).toMatchObject(env);
  });

  it("a bad environment fails with CONFIG_INVALID naming every bad key, not just the first", () => {
    const error = configError(() =>
      parseConfig(backboneConfigSchema, { KAFKA_BROKERS: "nope", BATON_LOG_LEVEL: "loud", KAFKA_CLIENT_ID: "ok" }),
    );
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.retriable).toBe(false);
    expect(error.message).toContain("KAFKA_BROKERS");
    expect(error.message).toContain("BATON_LOG_LEVEL");
    expect(error.message).not.toContain("KAFKA_CLIENT_ID");
    expect([...(error.details["keys"] as string[])].sort()).toEqual(["BATON_LOG_LEVEL", "KAFKA_BROKERS"]);
  });

  it("a broker list with several bad entries names the variable once", () => {
    const error = configError(() => parseConfig(backboneConfigSchema, { KAFKA_BROKERS: "good:9092,bad,worse" }));
    expect(error.details["keys"]).toEqual(["KAFKA_BROKERS"]);
  });

  it("a value that is not a URL fails naming its key", () => {
    const error = configError(() => parseConfig(backboneConfigSchema, { SCHEMA_REGISTRY_URL: "not a url" }));
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.details["keys"]).toEqual(["SCHEMA_REGISTRY_URL"]);
    expect(error.message).toContain("SCHEMA_REGISTRY_URL");
  });

  it("several schemas at once name every bad key of all of them, a problem they share once", () => {
    const gateway = backboneConfigSchema.extend({ GATEWAY_PORT: z.coerce.number().int().max(65535).default(8080) });
    const mcp = backboneConfigSchema.extend({ MCP_WAIT_MS: z.coerce.number().int().positive().default(1000) });
    const [gatewayConfig, mcpConfig] = parseConfigs([gateway, mcp], { GATEWAY_PORT: "9000", MCP_WAIT_MS: "5" });
    expect(gatewayConfig.GATEWAY_PORT).toBe(9000);
    expect(mcpConfig.MCP_WAIT_MS).toBe(5);
    const error = configError(() =>
      parseConfigs([gateway, mcp], { GATEWAY_PORT: "99999", MCP_WAIT_MS: "-5", BATON_LOG_LEVEL: "loud" }),
    );
    expect([...(error.details["keys"] as string[])].sort()).toEqual(["BATON_LOG_LEVEL", "GATEWAY_PORT", "MCP_WAIT_MS"]);
    expect(error.message.match(/BATON_LOG_LEVEL/g)).toHaveLength(1);
  });

  it("works with any stage's own schema", () => {
    const stageSchema = z.object({ WORKERS: z.coerce.number().int().positive().default(4) });
    expect(parseConfig(stageSchema, {}).WORKERS).toBe(4);
    expect(parseConfig(stageSchema, { WORKERS: "9" }).WORKERS).toBe(9);
    expect(configError(() => parseConfig(stageSchema, { WORKERS: "-1" })).details["keys"]).toEqual(["WORKERS"]);
  });

  it("the shared workflow folders and signing key settings: a list of folders, and a principal only with its key", () => {
    const schema = z.object({ WORKFLOWS_DIR: workflowsDirKey, ...signingKeyShape }).superRefine(refineSigningKey);
    expect(parseConfig(schema, { WORKFLOWS_DIR: " a, b ,," }).WORKFLOWS_DIR).toEqual(["a", "b"]);
    expect(parseConfig(schema, { BATON_PRINCIPAL: "p", BATON_SIGNING_KEY_FILE: "k" }).BATON_PRINCIPAL).toBe("p");
    expect(configError(() => parseConfig(schema, { BATON_PRINCIPAL: "p" })).details["keys"]).toEqual([
      "BATON_SIGNING_KEY_FILE",
    ]);
    expect(configError(() => parseConfig(schema, { BATON_SIGNING_KEY_FILE: "k" })).details["keys"]).toEqual([
      "BATON_PRINCIPAL",
    ]);
  });
});
