import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { backboneConfigSchema, parseConfig } from "../config.ts";
import { BatonError } from "../errors.ts";
import { RegistryClient } from "../schemas/registry.ts";
import { kafkaSecurityOf, registryAuthorizationOf } from "./security-config.ts";

function badKeys(env: Record<string, string>): string[] {
  try {
    parseConfig(backboneConfigSchema, env);
  } catch (error) {
    if (error instanceof BatonError) return error.details["keys"] as string[];
    throw error;
  }
  throw new Error("expected the config to be refused");
}

async function secretFile(text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), "baton-secret-")), "secret");
  await writeFile(file, text, { mode: 0o600 });
  return file;
}

describe("security settings", () => {
  it("none are needed for the local stack: no SASL, no TLS, no registry credentials", () => {
    const config = parseConfig(backboneConfigSchema, {});
    expect(kafkaSecurityOf(config)).toEqual({});
    expect(registryAuthorizationOf(config)).toBeUndefined();
  });

  it("a SASL mechanism without a user or a password names both keys", () => {
    expect(badKeys({ KAFKA_SASL_MECHANISM: "scram-sha-512" })).toEqual([
      "KAFKA_SASL_USERNAME",
      "KAFKA_SASL_PASSWORD_FILE",
    ]);
    expect(badKeys({ KAFKA_SASL_USERNAME: "baton-planner", KAFKA_SASL_PASSWORD: "x" })).toEqual([
      "KAFKA_SASL_MECHANISM",
    ]);
    expect(badKeys({ KAFKA_SASL_MECHANISM: "gssapi" })).toEqual(["KAFKA_SASL_MECHANISM"]);
  });

  it("a password file that cannot be read is a bad key, named with its path", () => {
    expect(() =>
      parseConfig(backboneConfigSchema, {
        KAFKA_SASL_MECHANISM: "plain",
        KAFKA_SASL_USERNAME: "baton-planner",
        KAFKA_SASL_PASSWORD_FILE: "/nonexistent/password",
      }),
    ).toThrow("KAFKA_SASL_PASSWORD_FILE: cannot read /nonexistent/password (ENOENT)");
  });

  it("the password comes from its file without the trailing newline, and TLS files are read as PEM text", async () => {
    const password = await secretFile("s3cret\n");
    const ca = await secretFile("-----BEGIN CERTIFICATE-----\n…\n");
    const config = parseConfig(backboneConfigSchema, {
      KAFKA_SASL_MECHANISM: "scram-sha-512",
      KAFKA_SASL_USERNAME: "baton-executor",
      KAFKA_SASL_PASSWORD_FILE: password,
      KAFKA_TLS: "true",
      KAFKA_TLS_CA_FILE: ca,
    });
    expect(kafkaSecurityOf(config)).toEqual({
      sasl: { mechanism: "scram-sha-512", username: "baton-executor", password: "s3cret" },
      tls: { ca: "-----BEGIN CERTIFICATE-----\n…\n" },
    });
  });

  it("half a client certificate, TLS files without TLS, and two registry auths are refused", async () => {
    const cert = await secretFile("cert");
    expect(badKeys({ KAFKA_TLS: "true", KAFKA_TLS_CERT_FILE: cert })).toEqual(["KAFKA_TLS_KEY_FILE"]);
    expect(badKeys({ KAFKA_TLS_CA_FILE: cert })).toEqual(["KAFKA_TLS"]);
    expect(badKeys({ REGISTRY_USERNAME: "ann", REGISTRY_PASSWORD: "pw", REGISTRY_TOKEN: "t" })).toEqual([
      "REGISTRY_TOKEN",
    ]);
    expect(badKeys({ REGISTRY_USERNAME: "ann" })).toEqual(["REGISTRY_PASSWORD_FILE"]);
  });
});

describe("registry credentials", () => {
  /** A registry stand-in that answers only requests carrying the expected Authorization header. */
  async function authenticatingRegistry(
    expected: string,
  ): Promise<{ url: string; seen: IncomingHttpHeaders[]; close(): void }> {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((request, response) => {
      seen.push(request.headers);
      if (request.headers.authorization !== expected) {
        response.writeHead(401).end('{"message":"unauthorized"}');
        return;
      }
      const latest = request.url?.endsWith("/versions/latest");
      response.writeHead(200, { "content-type": "application/json" });
      response.end(latest ? JSON.stringify({ id: 7, version: 1, schema: '"string"', subject: "s" }) : "[]");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, seen, close: () => server.close() };
  }

  it("basic auth is sent on every request, and a refused one stops the start in one line", async () => {
    const config = parseConfig(backboneConfigSchema, { REGISTRY_USERNAME: "ann", REGISTRY_PASSWORD: "pw" });
    const authorization = registryAuthorizationOf(config) ?? "";
    expect(authorization).toBe(`Basic ${Buffer.from("ann:pw").toString("base64")}`);
    const registry = await authenticatingRegistry(authorization);
    try {
      await new RegistryClient(registry.url, authorization).checkAccess();
      expect(await new RegistryClient(registry.url, authorization).latestId("baton.requests-value")).toBe(7);
      await expect(new RegistryClient(registry.url).checkAccess()).rejects.toMatchObject({
        code: "AUTHENTICATION_FAILED",
      });
    } finally {
      registry.close();
    }
  });

  it("a bearer token from a file is sent as Authorization: Bearer", async () => {
    const config = parseConfig(backboneConfigSchema, { REGISTRY_TOKEN_FILE: await secretFile("tok-123\n") });
    expect(registryAuthorizationOf(config)).toBe("Bearer tok-123");
    const registry = await authenticatingRegistry("Bearer tok-123");
    try {
      expect(await new RegistryClient(registry.url, "Bearer tok-123").latestId("baton.requests-value")).toBe(7);
      expect(registry.seen.every((headers) => headers.authorization === "Bearer tok-123")).toBe(true);
    } finally {
      registry.close();
    }
  });
});
