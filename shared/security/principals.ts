import type { KeyObject } from "node:crypto";
import type { TextHeaders } from "../kafka/headers.ts";
import type { Policy } from "../policy-file.ts";
import { parsePublicKey, verifyRecord } from "./record-signature.ts";

/** What a writer does with a record: submit a request, or decide a waiting call. */
export type WriterRole = "submit" | "approve";

/** The writer checked for a record: who it is, why it may not write it, or that no writers are declared. */
export type WriterCheck = { principal: string } | { problem: string } | { unchecked: true };

/**
 * The principals of a policy file with their parsed keys: checks that a record was signed by a principal that may
 * do what the record does for its tenant. With no principals declared, nothing is checked.
 */
export class Principals {
  private readonly keys = new Map<string, KeyObject>();
  private readonly policy: Policy;

  constructor(policy: Policy) {
    this.policy = policy;
    for (const [name, principal] of Object.entries(policy.principals))
      this.keys.set(name, parsePublicKey(principal.publicKey));
  }

  /** Whether writers are checked at all. */
  get enforced(): boolean {
    return this.keys.size > 0;
  }

  /** Checks the writer of a record on a topic, acting for a tenant in a role. */
  check(topic: string, value: unknown, headers: TextHeaders, tenant: string, role: WriterRole): WriterCheck {
    if (!this.enforced) return { unchecked: true };
    const signed = verifyRecord(topic, value, headers, (name) => this.keys.get(name));
    if ("problem" in signed) return signed;
    const allowed = this.policy.principals[signed.principal]?.[role] ?? [];
    if (!allowed.includes(tenant)) {
      const doing = role === "submit" ? "submit requests" : "approve calls";
      return { problem: `principal ${signed.principal} may not ${doing} for tenant ${tenant}` };
    }
    return signed;
  }
}
