import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { BatonError } from "../errors.ts";
import type { TextHeaders } from "../kafka/headers.ts";

/**
 * Signed records: who wrote a request or an approval. Kafka authenticates a client to the broker, but a record
 * does not carry its writer's principal to the reader, so a stage cannot tell from the record who wrote it. Writers
 * that must be known (submitters, approvers) sign what they write with their own Ed25519 key; the policy file holds
 * their public keys and what each may do. The private key never leaves the writer's machine, and a signature is
 * bound to the topic and to every field of the record, so it cannot be moved to another record or another topic.
 */
export const principalHeader = "baton-principal";
export const signatureHeader = "baton-signature";

/** A writer's identity and the key it signs with. */
export interface Signer {
  principal: string;
  privateKey: KeyObject;
}

/** JSON with object keys sorted at every level: the same record gives the same text, whatever built it. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function signedBytes(topic: string, principal: string, value: unknown): Buffer {
  return Buffer.from(`baton-record-v1\n${topic}\n${principal}\n${canonicalJson(value)}`, "utf8");
}

/** The headers that sign a record for a topic. */
export function signRecord(topic: string, value: unknown, signer: Signer): TextHeaders {
  const signature = sign(null, signedBytes(topic, signer.principal, value), signer.privateKey);
  return { [principalHeader]: signer.principal, [signatureHeader]: signature.toString("base64") };
}

/** Who signed a record, or why its signature does not hold. */
export type SignatureCheck = { principal: string } | { problem: string };

/** Checks a record's signature against the public key of the principal it names. */
export function verifyRecord(
  topic: string,
  value: unknown,
  headers: TextHeaders,
  publicKeyOf: (principal: string) => KeyObject | undefined,
): SignatureCheck {
  const principal = headers[principalHeader];
  const signature = headers[signatureHeader];
  if (principal === undefined || signature === undefined) return { problem: "the record is not signed" };
  const key = publicKeyOf(principal);
  if (key === undefined) return { problem: `principal ${principal} is not in the policy file` };
  let valid: boolean;
  try {
    valid = verify(null, signedBytes(topic, principal, value), key, Buffer.from(signature, "base64"));
  } catch {
    valid = false;
  }
  return valid ? { principal } : { problem: `the signature of principal ${principal} does not match the record` };
}

/** A public key from the policy file: base64 of its DER (SubjectPublicKeyInfo), or PEM. */
export function parsePublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  const key = trimmed.startsWith("-----BEGIN")
    ? createPublicKey(trimmed)
    : createPublicKey({ key: Buffer.from(trimmed, "base64"), format: "der", type: "spki" });
  if (key.asymmetricKeyType !== "ed25519") throw new Error(`expected an Ed25519 key, got ${key.asymmetricKeyType}`);
  return key;
}

/** A new key pair: the private key as PEM (for the writer's file), the public key as one base64 line (for policy). */
export function generateSigningKeys(): { privateKeyPem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicKey: publicKey.export({ format: "der", type: "spki" }).toString("base64"),
  };
}

/** Reads a writer's private key file (PEM, as `baton keys create` writes it). */
export async function loadSigner(principal: string, file: string): Promise<Signer> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new BatonError("CONFIG_INVALID", `cannot read signing key file ${file}: ${(error as Error).message}`);
  }
  try {
    const privateKey = createPrivateKey(text);
    if (privateKey.asymmetricKeyType !== "ed25519") throw new Error(`it holds a ${privateKey.asymmetricKeyType} key`);
    return { principal, privateKey };
  } catch (error) {
    throw new BatonError(
      "CONFIG_INVALID",
      `signing key file ${file} is not an Ed25519 private key in PEM: ${(error as Error).message}`,
    );
  }
}
