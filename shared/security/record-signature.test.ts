import { describe, expect, it } from "vitest";
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import {
  canonicalJson,
  generateSigningKeys,
  parsePublicKey,
  principalHeader,
  signRecord,
  signatureHeader,
  verifyRecord,
  type Signer,
} from "./record-signature.ts";

const alice = generateSigningKeys();
const mallory = generateSigningKeys();
const signer: Signer = { principal: "alice", privateKey: createPrivateKey(alice.privateKeyPem) };
const keys = new Map([
  ["alice", parsePublicKey(alice.publicKey)],
  ["mallory", parsePublicKey(mallory.publicKey)],
]);
const keyOf = (name: string) => keys.get(name);
const request = { requestId: "r-1", tenant: "acme", input: "refund", metadata: { b: "2", a: "1" }, workflow: null };

describe("signed records", () => {
  it("a signed record verifies as its signer, whatever order its fields were built in", () => {
    const headers = signRecord("baton.requests", request, signer);
    expect(headers[principalHeader]).toBe("alice");
    const reordered = {
      workflow: null,
      metadata: { a: "1", b: "2" },
      input: "refund",
      tenant: "acme",
      requestId: "r-1",
    };
    expect(verifyRecord("baton.requests", reordered, headers, keyOf)).toEqual({ principal: "alice" });
  });

  it("a changed field, another topic or another claimed principal breaks the signature", () => {
    const headers = signRecord("baton.requests", request, signer);
    expect(verifyRecord("baton.requests", { ...request, tenant: "globex" }, headers, keyOf)).toEqual({
      problem: "the signature of principal alice does not match the record",
    });
    expect(verifyRecord("baton.approvals", request, headers, keyOf)).toEqual({
      problem: "the signature of principal alice does not match the record",
    });
    expect(verifyRecord("baton.requests", request, { ...headers, [principalHeader]: "mallory" }, keyOf)).toEqual({
      problem: "the signature of principal mallory does not match the record",
    });
  });

  it("an unsigned record, an unknown principal and a signature that is not base64 are named", () => {
    expect(verifyRecord("baton.requests", request, {}, keyOf)).toEqual({ problem: "the record is not signed" });
    const headers = signRecord("baton.requests", request, { ...signer, principal: "eve" });
    expect(verifyRecord("baton.requests", request, headers, keyOf)).toEqual({
      problem: "principal eve is not in the policy file",
    });
    expect(
      verifyRecord("baton.requests", request, { [principalHeader]: "alice", [signatureHeader]: "%%%" }, keyOf),
    ).toEqual({ problem: "the signature of principal alice does not match the record" });
  });

  it("canonical JSON sorts keys at every level and keeps arrays in order", () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[{"c":2,"d":1}]}');
  });

  it("public keys are Ed25519, as base64 DER or PEM; other keys are refused", () => {
    const pem = parsePublicKey(alice.publicKey).export({ format: "pem", type: "spki" }).toString();
    expect(parsePublicKey(pem).asymmetricKeyType).toBe("ed25519");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ format: "pem", type: "spki" });
    expect(() => parsePublicKey(rsa.toString())).toThrow(/Ed25519/u);
  });
});
