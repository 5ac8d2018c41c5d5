import { tenantOfToken, tokensRequired, type Policy } from "../../../shared/policy-file.ts";

/** What a connection says about who it is: a bearer token, a tenant named outright, or both. */
export interface ConnectionCredentials {
  token?: string | undefined;
  tenant?: string | undefined;
}

/**
 * The tenant of an MCP connection. A bearer token names its tenant (policy file `tenants.<t>.tokens`); when any
 * tenant declares tokens, a connection without a valid one is refused and a named tenant alone is not trusted.
 * Without tokens in the policy file (a local stack), the named tenant is taken as it is, if the policy knows it.
 */
export function resolveTenant(
  policy: Policy,
  credentials: ConnectionCredentials,
): { tenant: string } | { problem: string } {
  const { token, tenant } = credentials;
  if (token !== undefined && token !== "") {
    const owner = tenantOfToken(policy, token);
    if (owner === undefined) return { problem: "the bearer token is not one the policy file lists" };
    if (tenant !== undefined && tenant !== "" && tenant !== owner)
      return { problem: `the bearer token is tenant ${owner}'s, not ${tenant}'s` };
    return { tenant: owner };
  }
  if (tokensRequired(policy))
    return { problem: "this gateway needs a bearer token (Authorization: Bearer …, or BATON_MCP_TOKEN for baton mcp)" };
  if (tenant === undefined || tenant === "")
    return { problem: "name a tenant (the X-Baton-Tenant header, or baton mcp --tenant <t>)" };
  if (!(tenant in policy.tenants))
    return { problem: `unknown tenant ${tenant} (known: ${Object.keys(policy.tenants).join(", ")})` };
  return { tenant };
}
