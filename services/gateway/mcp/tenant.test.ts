import { describe, expect, it } from "vitest";
import { parsePolicy, tokenDigestOf } from "../../../shared/policy-file.ts";
import { resolveTenant } from "./tenant.ts";
import { batonToolName, mcpToolName } from "./tool-names.ts";

const open = parsePolicy(
  `
tenants:
  demo: { tools: { allow: [] } }
`,
  "open.yaml",
);

const withTokens = parsePolicy(
  `
tenants:
  demo: { tokens: ["${tokenDigestOf("demo-token")}"], tools: { allow: [] } }
  trial: { tools: { allow: [] } }
`,
  "tokens.yaml",
);

describe("resolveTenant", () => {
  it("without tokens in the policy, the named tenant, if the policy knows it", () => {
    expect(resolveTenant(open, { tenant: "demo" })).toEqual({ tenant: "demo" });
    expect(resolveTenant(open, { tenant: "acme" })).toEqual({ problem: "unknown tenant acme (known: demo)" });
    expect(resolveTenant(open, {})).toMatchObject({ problem: expect.stringContaining("X-Baton-Tenant") as string });
  });

  it("with tokens in the policy, only a listed token names a tenant; a named tenant alone is refused", () => {
    expect(resolveTenant(withTokens, { token: "demo-token" })).toEqual({ tenant: "demo" });
    expect(resolveTenant(withTokens, { token: "demo-token", tenant: "demo" })).toEqual({ tenant: "demo" });
    expect(resolveTenant(withTokens, { token: "demo-token", tenant: "trial" })).toEqual({
      problem: "the bearer token is tenant demo's, not trial's",
    });
    expect(resolveTenant(withTokens, { token: "guess" })).toEqual({
      problem: "the bearer token is not one the policy file lists",
    });
    expect(resolveTenant(withTokens, { tenant: "trial" })).toMatchObject({
      problem: expect.stringContaining("needs a bearer token") as string,
    });
  });
});

describe("gateway tool names", () => {
  it("offers <server>/<tool> as <server>.<tool> and splits at the first dot, whatever dots the tool has", () => {
    expect(mcpToolName("ticketing/create_ticket")).toBe("ticketing.create_ticket");
    expect(batonToolName("ticketing.create_ticket")).toBe("ticketing/create_ticket");
    expect(batonToolName("files.read.v2")).toBe("files/read.v2");
    expect(batonToolName(mcpToolName("files/read.v2"))).toBe("files/read.v2");
    expect(batonToolName("run_workflow")).toBeUndefined();
    expect(batonToolName(".x")).toBeUndefined();
    expect(batonToolName("x.")).toBeUndefined();
  });
});
