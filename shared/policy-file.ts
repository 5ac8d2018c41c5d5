import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { BatonError } from "./errors.ts";
import { parseDeclarativeFile } from "./declarative-file.ts";
import { conditionSchema } from "./templates.ts";
import { parsePublicKey } from "./security/record-signature.ts";

const ruleId = z.string().regex(/^[a-z][a-z0-9-]*$/, "rule ids are lowercase words joined by dashes");
const toolPattern = z
  .string()
  .regex(/^[A-Za-z0-9_*-]+\/[A-Za-z0-9_.*-]+$/, "tool patterns are <server>/<tool>, * matches any part");
const regexText = z.string().refine((text) => {
  try {
    new RegExp(text, "u");
    return true;
  } catch {
    return false;
  }
}, "not a valid regular expression");

const argumentRuleSchema = z
  .strictObject({
    id: ruleId,
    tool: toolPattern,
    path: z.string().min(1),
    oneOf: z.array(z.unknown()).optional(),
    pattern: regexText.optional(),
    max: z.number().optional(),
    min: z.number().optional(),
    maxLength: z.number().int().nonnegative().optional(),
    reason: z.string().optional(),
  })
  .refine(
    (rule) => [rule.oneOf, rule.pattern, rule.max, rule.min, rule.maxLength].some((check) => check !== undefined),
    "an argument rule needs one of oneOf, pattern, max, min, maxLength",
  );

/** The sha256 of a bearer token, as `sha256:<64 hex digits>`: the policy file never holds a token itself. */
const tokenDigest = z
  .string()
  .regex(/^sha256:[0-9a-f]{64}$/, "tokens are given as sha256:<64 lowercase hex digits> of the token");

const tenantSchema = z.strictObject({
  /**
   * Bearer tokens that make a gateway connection (MCP over HTTP or stdio) this tenant's. When any tenant has tokens, a
   * connection must present one; the tenant it names is taken from the token, never from a header.
   */
  tokens: z.array(tokenDigest).default([]),
  tools: z.strictObject({
    allow: z.array(toolPattern).default([]),
    deny: z.array(toolPattern).default([]),
  }),
  approvals: z
    .array(
      z.strictObject({
        id: ruleId,
        tool: toolPattern,
        when: conditionSchema.optional(),
        reason: z.string().min(1),
      }),
    )
    .default([]),
  arguments: z.array(argumentRuleSchema).default([]),
  toolOutput: z
    .strictObject({
      /**
       * What happens to tool output that matches a screening rule before a planner or summarizer LLM reads it:
       * off (not screened), flag (passes, audited), redact (the matching text replaced, audited), refuse (the run's
       * answer is withheld, audited).
       */
      screen: z.enum(["off", "flag", "redact", "refuse"]).default("flag"),
      /** Whether the built-in prompt-injection patterns apply besides the tenant's own. */
      builtIn: z.boolean().default(true),
      patterns: z.array(z.strictObject({ id: ruleId, pattern: regexText, reason: z.string().min(1) })).default([]),
    })
    .prefault({}),
  /**
   * Whether the tenant's followers (SSE, `baton submit --follow`) see an LLM's answer as it is written: pieces on
   * baton.events, each redacted by the answer rules. The final answer passes every answer rule either way.
   */
  partialText: z.boolean().default(false),
});

const piiKind = z.enum(["email", "phone", "card"]);

const tenantName = z.string().regex(/^[a-z][a-z0-9-]*$/);

/** A writer known by its signing key (shared/security/record-signature.ts) and what it may do. */
const principalSchema = z.strictObject({
  /** Its Ed25519 public key: base64 DER as `baton keys create` prints it, or PEM. */
  publicKey: z.string().refine((text) => {
    try {
      parsePublicKey(text);
      return true;
    } catch {
      return false;
    }
  }, "not an Ed25519 public key (base64 DER or PEM)"),
  /** Tenants it may submit requests for. */
  submit: z.array(tenantName).default([]),
  /** Tenants whose waiting calls it may approve or reject. */
  approve: z.array(tenantName).default([]),
});

/** The zod schema of the policy file (policies/*.yaml). */
export const policySchema = z
  .strictObject({
    tenants: z.record(tenantName, tenantSchema),
    /**
     * Writers who sign what they write. When any are declared, only their signed requests run (for the tenants each
     * may submit for) and only their signed decisions approve calls (of the tenants each may approve for); the
     * approver recorded is the signer. Unset: requests and decisions are not checked for a writer (see the README).
     */
    principals: z
      .record(
        z.string().regex(/^[A-Za-z0-9._@-]+$/, "principal names are letters, digits and . _ @ -"),
        principalSchema,
      )
      .default({}),
    answers: z
      .strictObject({
        redact: z.array(piiKind).default(["email", "phone", "card"]),
        block: z.array(z.strictObject({ id: ruleId, pattern: regexText, reason: z.string().min(1) })).default([]),
        compliance: z.array(z.strictObject({ id: ruleId, pattern: regexText, append: z.string().min(1) })).default([]),
      })
      .prefault({}),
  })
  .superRefine((policy, context) => {
    const tokenTenants = new Map<string, string>();
    for (const [tenant, rules] of Object.entries(policy.tenants)) {
      rules.tokens.forEach((digest, index) => {
        const other = tokenTenants.get(digest);
        if (other !== undefined && other !== tenant)
          context.addIssue({
            code: "custom",
            path: ["tenants", tenant, "tokens", index],
            message: `this token is already tenant ${other}'s: a token names one tenant`,
          });
        tokenTenants.set(digest, tenant);
      });
    }
    for (const [name, principal] of Object.entries(policy.principals)) {
      for (const kind of ["submit", "approve"] as const) {
        principal[kind].forEach((tenant, index) => {
          if (!(tenant in policy.tenants))
            context.addIssue({
              code: "custom",
              path: ["principals", name, kind, index],
              message: `unknown tenant ${tenant}`,
            });
        });
      }
    }
  });

/** A validated policy. */
export type Policy = z.output<typeof policySchema>;
/** One tenant's rules. */
export type TenantPolicy = Policy["tenants"][string];
/** How one tenant's tool output is screened before an LLM reads it. */
export type ToolOutputPolicy = TenantPolicy["toolOutput"];
/** A kind of personal data redacted from answers. */
export type PiiKind = z.output<typeof piiKind>;

/** Parses and validates a policy file's text; every problem is named with the file. */
export function parsePolicy(text: string, file: string): Policy {
  return parseDeclarativeFile(text, file, policySchema);
}

/** Loads and validates the policy file. */
export async function loadPolicy(file: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new BatonError("CONFIG_INVALID", `cannot read policy file ${file}: ${(error as Error).message}`);
  }
  return parsePolicy(text, file);
}

/** Whether a qualified tool name matches a pattern where `*` stands for any run of characters. */
export function toolMatches(pattern: string, tool: string): boolean {
  const expression = pattern
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${expression}$`).test(tool);
}

/** Whether a tenant may call a tool at all: not on its deny list and on its allow list (arguments aside). */
export function toolPermitted(tenant: TenantPolicy, tool: string): boolean {
  if (tenant.tools.deny.some((pattern) => toolMatches(pattern, tool))) return false;
  return tenant.tools.allow.some((pattern) => toolMatches(pattern, tool));
}

/** The policy file's form of a bearer token: `sha256:<hex>` of its UTF-8 bytes. */
export function tokenDigestOf(token: string): string {
  return `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`;
}

/** Whether any tenant declares tokens: then gateway connections must present one. */
export function tokensRequired(policy: Policy): boolean {
  return Object.values(policy.tenants).some((tenant) => tenant.tokens.length > 0);
}

/** The tenant a bearer token belongs to, if any. */
export function tenantOfToken(policy: Policy, token: string): string | undefined {
  const digest = tokenDigestOf(token);
  return Object.entries(policy.tenants).find(([, tenant]) => tenant.tokens.includes(digest))?.[0];
}
