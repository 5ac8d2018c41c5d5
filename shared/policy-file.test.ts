import { describe, it, expect } from "vitest";
import { BatonError } from "./errors.ts";
import { fromRoot } from "./paths.ts";
import {
  loadPolicy,
  parsePolicy,
  tenantOfToken,
  tokenDigestOf,
  tokensRequired,
  toolMatches,
  toolPermitted,
  type TenantPolicy,
} from "./policy-file.ts";

/** The BatonError a function throws, so a test can assert its code and message. */
function thrown(run: () => unknown): BatonError {
  try {
    run();
  } catch (error) {
    if (error instanceof BatonError) return error;
    throw error;
  }
  throw new Error("expected a BatonError, nothing was thrown");
}

const minimal = `
tenants:
  acme:
    tools:
      allow: ["knowledge-base/*"]
`;

describe("parsePolicy", () => {
  it("fills defaults: no deny list, no approvals, no argument rules, no partial text, every kind of PII redacted", () => {
    const policy = parsePolicy(minimal, "minimal.yaml");
    expect(policy.tenants.acme).toEqual({
      tokens: [],
      tools: { allow: ["knowledge-base/*"], deny: [] },
      approvals: [],
      arguments: [],
      toolOutput: { screen: "flag", builtIn: true, patterns: [] },
      partialText: false,
    });
    expect(policy.answers).toEqual({ redact: ["email", "phone", "card"], block: [], compliance: [] });
  });

  it("keeps approvals with their conditions and argument rules", () => {
    const policy = parsePolicy(
      `
tenants:
  acme:
    tools: { allow: ["ticketing/*"] }
    approvals:
      - { id: big-refunds, tool: ticketing/issue_refund, when: { path: arguments.amount, greaterThan: 50 }, reason: big }
    arguments:
      - { id: short-subject, tool: ticketing/create_ticket, path: subject, maxLength: 80 }
`,
      "acme.yaml",
    );
    expect(policy.tenants.acme?.approvals[0]?.when).toEqual({ path: "arguments.amount", greaterThan: 50 });
    expect(policy.tenants.acme?.arguments[0]?.maxLength).toBe(80);
  });

  it("names the file and every problem in one error", () => {
    const error = thrown(() =>
      parsePolicy(
        `
tenants:
  Acme:
    tools: { allow: ["no-slash"] }
  beta:
    tools: { allow: [] }
    approvals:
      - { id: Bad_Id, tool: x/y, reason: "" }
    arguments:
      - { id: no-check, tool: x/y, path: a }
      - { id: bad-regex, tool: x/y, path: a, pattern: "(" }
answers:
  redact: [ssn]
`,
        "policies/broken.yaml",
      ),
    );
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.message.startsWith("policies/broken.yaml:")).toBe(true);
    for (const fragment of [
      "tenants.Acme",
      "tenants.beta.approvals.0.id",
      "tenants.beta.approvals.0.reason",
      "an argument rule needs one of oneOf, pattern, max, min, maxLength",
      "tenants.beta.arguments.1.pattern: not a valid regular expression",
      "answers.redact.0",
    ]) {
      expect(error.message).toContain(fragment);
    }
  });

  it("rejects keys it does not know, so a misspelled rule is not silently ignored", () => {
    const error = thrown(() => parsePolicy(`${minimal}    aprovals: []\n`, "typo.yaml"));
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.message).toContain("typo.yaml");
    expect(error.message).toContain("aprovals");
  });

  it("names the file when the text is not YAML", () => {
    const error = thrown(() => parsePolicy("tenants: [unclosed", "policies/bad.yaml"));
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.message).toContain("policies/bad.yaml: not valid YAML");
  });

  it("rejects an empty file, which has no tenants", () => {
    expect(thrown(() => parsePolicy("", "empty.yaml")).message).toContain("empty.yaml");
  });
});

describe("gateway tokens", () => {
  const digest = tokenDigestOf("acme-secret");
  const withTokens = (acme: string, other: string): string => `
tenants:
  acme:
    tokens: [${acme}]
    tools: { allow: ["knowledge-base/*"] }
  other:
    tokens: [${other}]
    tools: { allow: [] }
`;

  it("a token maps to the tenant that lists its digest; an unknown token maps to none", () => {
    const policy = parsePolicy(withTokens(`"${digest}"`, `"${tokenDigestOf("other-secret")}"`), "tokens.yaml");
    expect(tokensRequired(policy)).toBe(true);
    expect(tenantOfToken(policy, "acme-secret")).toBe("acme");
    expect(tenantOfToken(policy, "other-secret")).toBe("other");
    expect(tenantOfToken(policy, "guess")).toBeUndefined();
    expect(tokensRequired(parsePolicy(minimal, "minimal.yaml"))).toBe(false);
  });

  it("rejects a token that is not a sha256 digest, and one digest listed by two tenants", () => {
    const error = thrown(() => parsePolicy(withTokens('"acme-secret"', `"${digest}"`), "tokens.yaml"));
    expect(error.message).toContain("tenants.acme.tokens.0");
    expect(error.message).toContain("sha256:<64 lowercase hex digits>");
    const shared = thrown(() => parsePolicy(withTokens(`"${digest}"`, `"${digest}"`), "tokens.yaml"));
    expect(shared.message).toContain("tenants.other.tokens.0");
    expect(shared.message).toContain("already tenant acme's");
  });
});

describe("loadPolicy", () => {
  it("the shipped policies/default.yaml is valid and names the demo and trial tenants", async () => {
    const policy = await loadPolicy(fromRoot("policies", "default.yaml"));
    expect(Object.keys(policy.tenants).sort()).toEqual(["demo", "trial"]);
  });

  it("a missing file is a CONFIG_INVALID error naming the file", async () => {
    const file = fromRoot("policies", "does-not-exist.yaml");
    await expect(loadPolicy(file)).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    await expect(loadPolicy(file)).rejects.toThrow(file);
  });
});

describe("toolMatches", () => {
  it("matches an exact name and nothing else", () => {
    expect(toolMatches("ticketing/create_ticket", "ticketing/create_ticket")).toBe(true);
    expect(toolMatches("ticketing/create_ticket", "ticketing/create_ticket_v2")).toBe(false);
    expect(toolMatches("ticketing/create_ticket", "other-ticketing/create_ticket")).toBe(false);
  });

  it("`*` stands for any run of characters", () => {
    expect(toolMatches("ticketing/*", "ticketing/issue_refund")).toBe(true);
    expect(toolMatches("*/search", "knowledge-base/search")).toBe(true);
    expect(toolMatches("*/*", "outbox/send_email")).toBe(true);
    expect(toolMatches("ticketing/issue_*", "ticketing/issue_refund")).toBe(true);
    expect(toolMatches("ticketing/*", "outbox/send_email")).toBe(false);
  });

  it("a dot in a pattern is a literal dot, not any character", () => {
    expect(toolMatches("kb/search.v1", "kb/search.v1")).toBe(true);
    expect(toolMatches("kb/search.v1", "kb/searchXv1")).toBe(false);
  });
});

describe("toolOutput screening settings", () => {
  it("keeps a tenant's screening mode, built-in switch and own patterns", () => {
    const policy = parsePolicy(
      `
tenants:
  acme:
    tools: { allow: ["knowledge-base/*"] }
    toolOutput:
      screen: refuse
      builtIn: false
      patterns: [{ id: no-wire, pattern: "wire\\\\s+transfer", reason: mentions wire transfers }]
`,
      "acme.yaml",
    );
    expect(policy.tenants.acme?.toolOutput).toEqual({
      screen: "refuse",
      builtIn: false,
      patterns: [{ id: "no-wire", pattern: "wire\\s+transfer", reason: "mentions wire transfers" }],
    });
  });

  it("names an unknown screening mode and a pattern that is not a regular expression", () => {
    const error = thrown(() =>
      parsePolicy(
        `
tenants:
  acme:
    tools: { allow: [] }
    toolOutput:
      screen: shout
      patterns: [{ id: broken, pattern: "(", reason: r }]
`,
        "acme.yaml",
      ),
    );
    expect(error.message).toContain("toolOutput.screen");
    expect(error.message).toContain("not a valid regular expression");
  });
});

describe("toolPermitted", () => {
  const tenant = parsePolicy(
    `
tenants:
  acme:
    tools: { allow: ["ticketing/*", "knowledge-base/search"], deny: ["ticketing/issue_refund"] }
`,
    "acme.yaml",
  ).tenants.acme as TenantPolicy;

  it("a tool on the allow list and not on the deny list is permitted; the deny list wins", () => {
    expect(toolPermitted(tenant, "ticketing/create_ticket")).toBe(true);
    expect(toolPermitted(tenant, "knowledge-base/search")).toBe(true);
    expect(toolPermitted(tenant, "ticketing/issue_refund")).toBe(false);
    expect(toolPermitted(tenant, "outbox/send_email")).toBe(false);
  });
});
