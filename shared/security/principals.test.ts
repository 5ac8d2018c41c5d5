import { describe, expect, it } from "vitest";
import { createPrivateKey } from "node:crypto";
import { parsePolicy } from "../policy-file.ts";
import { Principals } from "./principals.ts";
import { generateSigningKeys, signRecord } from "./record-signature.ts";

const alice = generateSigningKeys();
const bob = generateSigningKeys();
const policyWith = (principals: string) =>
  parsePolicy(
    `
tenants:
  acme: { tools: { allow: ["kb/*"] } }
  globex: { tools: { allow: ["kb/*"] } }
${principals}
`,
    "principals-test.yaml",
  );
const bound = policyWith(`
principals:
  alice: { publicKey: "${alice.publicKey}", submit: [acme], approve: [acme, globex] }
  bob: { publicKey: "${bob.publicKey}", submit: [globex] }
`);
const request = { requestId: "r-1", tenant: "acme" };
const signedBy = (keys: { privateKeyPem: string }, principal: string) =>
  signRecord("baton.requests", request, { principal, privateKey: createPrivateKey(keys.privateKeyPem) });

describe("principals of the policy file", () => {
  it("with none declared, writers are not checked", () => {
    const none = new Principals(policyWith(""));
    expect(none.enforced).toBe(false);
    expect(none.check("baton.requests", request, {}, "acme", "submit")).toEqual({ unchecked: true });
  });

  it("a principal may do only what the policy file binds it to, for those tenants", () => {
    const principals = new Principals(bound);
    expect(principals.check("baton.requests", request, signedBy(alice, "alice"), "acme", "submit")).toEqual({
      principal: "alice",
    });
    expect(principals.check("baton.requests", request, signedBy(bob, "bob"), "acme", "submit")).toEqual({
      problem: "principal bob may not submit requests for tenant acme",
    });
    expect(principals.check("baton.requests", request, signedBy(bob, "bob"), "acme", "approve")).toEqual({
      problem: "principal bob may not approve calls for tenant acme",
    });
    expect(principals.check("baton.requests", request, {}, "acme", "submit")).toEqual({
      problem: "the record is not signed",
    });
  });

  it("the policy file names a principal's unknown tenant and a key that is not Ed25519", () => {
    expect(() =>
      policyWith(`
principals:
  carol: { publicKey: "not a key", submit: [initech] }
`),
    ).toThrow(
      /principals\.carol\.publicKey: not an Ed25519[\s\S]*principals\.carol\.submit\.0: unknown tenant initech/u,
    );
  });
});
