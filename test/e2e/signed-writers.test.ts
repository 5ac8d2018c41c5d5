import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backboneConfigSchema, parseConfig } from "../../shared/config.ts";
import { createBackbone, type Backbone } from "../../shared/backbone.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { TopicWatcher } from "../../shared/kafka/topic-watcher.ts";
import type { ApprovalRequest, PolicyDecision, Response } from "../../shared/schemas/records.ts";
import { loadSigner } from "../../shared/security/record-signature.ts";
import type { CliClient } from "../../cli/client.ts";
import { createKey } from "../../cli/keys-command.ts";
import { submitRequest } from "../../cli/submit-command.ts";
import { decideApproval } from "../../cli/approval-commands.ts";
import { eventually } from "../integration/harness.ts";
import { e2eConfiguration, TestPipeline } from "./pipeline.ts";

// The pipeline on a policy file that declares principals: alice submits and approves for demo, bob only submits
// for trial. Requests and decisions go through the CLI's own functions, signed as the CLI signs them.
let pipeline: TestPipeline;
let backbone: Backbone;
let producer: BatonProducer;
let responses: TopicWatcher<Response>;
let decisions: TopicWatcher<PolicyDecision>;
let approvalRequests: TopicWatcher<ApprovalRequest>;
let asAlice: CliClient;
let asBob: CliClient;
let unsigned: CliClient;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), "baton-signed-"));
  const alice = await createKey("alice", { dir, submit: ["demo"], approve: ["demo"] });
  const bob = await createKey("bob", { dir, submit: ["trial"], approve: [] });
  const base = await readFile(join(import.meta.dirname, "policy.yaml"), "utf8");
  const entries = (entry: string) => entry.split("\n").slice(1).join("\n");
  const policyFile = join(dir, "policy.yaml");
  await writeFile(policyFile, `${base}\nprincipals:\n${entries(alice.policyEntry)}\n${entries(bob.policyEntry)}\n`);

  const config = parseConfig(backboneConfigSchema, {});
  backbone = createBackbone("baton-e2e-signed", config, createLogger({ service: "baton-e2e", level: "warn" }));
  producer = await BatonProducer.connect({
    kafka: backbone.kafka,
    codec: backbone.codec,
    tracer: backbone.tracing.tracer,
  });
  const client = (signer: CliClient["signer"]): CliClient => ({
    backbone,
    producer,
    signer,
    close: () => Promise.resolve(),
  });
  asAlice = client(await loadSigner("alice", alice.keyFile));
  asBob = client(await loadSigner("bob", bob.keyFile));
  unsigned = client(undefined);
  const { kafka, codec } = backbone;
  responses = new TopicWatcher({ kafka, codec, topic: "baton.responses" });
  decisions = new TopicWatcher({ kafka, codec, topic: "baton.policy-decisions", keepAll: true });
  approvalRequests = new TopicWatcher({ kafka, codec, topic: "baton.approval-requests", keepAll: true });
  await Promise.all([responses.start(), decisions.start(), approvalRequests.start()]);
  pipeline = await TestPipeline.start({ ...e2eConfiguration, policyFile });
}, 180_000);

afterAll(async () => {
  const stopped = await pipeline.stop();
  await Promise.all([responses.stop(), decisions.stop(), approvalRequests.stop()]);
  await producer.disconnect();
  await backbone.tracing.shutdown();
  expect(stopped.filter((stage) => stage.code !== 0)).toEqual([]);
}, 60_000);

const answer = async (requestId: string): Promise<Response> => (await responses.waitFor(requestId, 30_000)).value;
/** The audit decisions about a request with this action, once `count` arrived. */
const auditOf = (requestId: string, action: PolicyDecision["action"], count: number): Promise<PolicyDecision[]> =>
  eventually(() => {
    const found = decisions
      .matching((key) => key === requestId)
      .map((message) => message.value)
      .filter((decision) => decision.action === action);
    return found.length >= count ? found : undefined;
  }, 20_000);

describe("with principals in the policy file", () => {
  it("a request signed by a principal bound to its tenant runs; unsigned or for another tenant it is refused and audited", async () => {
    const signed = await submitRequest(asAlice, "How long does shipping take?", { tenant: "demo", metadata: {} });
    expect((await answer(signed.requestId)).status).toBe("ANSWERED");

    const anonymous = await submitRequest(unsigned, "How long does shipping take?", { tenant: "demo", metadata: {} });
    const otherTenant = await submitRequest(asBob, "How long does shipping take?", { tenant: "demo", metadata: {} });
    for (const [request, problem] of [
      [anonymous, "the record is not signed"],
      [otherTenant, "principal bob may not submit requests for tenant demo"],
    ] as const) {
      const response = await answer(request.requestId);
      expect(response).toMatchObject({ status: "REFUSED", steps: [] });
      expect(response.error).toContain(problem);
      expect(await auditOf(request.requestId, "REFUSE", 1)).toMatchObject([
        { subject: "REQUEST", action: "REFUSE", ruleId: "writer-not-allowed", reason: problem },
      ]);
    }
  });

  it("a decision applies only when signed by a principal who may approve for the call's tenant, and names the signer", async () => {
    const orderId = String(2000 + Math.floor(Math.random() * 7000));
    const request = await submitRequest(asAlice, `Refund order ${orderId}`, {
      tenant: "demo",
      workflow: "refund",
      metadata: { orderId, amount: "120" },
      requestId: `signed-${randomUUID()}`,
    });
    await eventually(() => approvalRequests.latest(`${request.requestId}/refund`), 20_000);
    // decideApproval reads the waiting call from baton.approval-requests, as `baton approve` does.
    await decideApproval(unsigned, request.requestId, "refund", { approved: true, approver: "alice", comment: null });
    await decideApproval(asBob, request.requestId, "refund", { approved: true, approver: "alice", comment: null });
    const refusals = await auditOf(request.requestId, "REFUSE", 2);
    expect(refusals.map((decision) => [decision.subject, decision.ruleId, decision.reason])).toEqual([
      ["APPROVAL", "approver-not-allowed", "decision refused: the record is not signed (it names approver alice)"],
      [
        "APPROVAL",
        "approver-not-allowed",
        "decision refused: principal bob may not approve calls for tenant demo (it names approver alice)",
      ],
    ]);
    await expect(responses.waitFor(request.requestId, 1_000)).rejects.toThrow(/no message/u);

    await decideApproval(asAlice, request.requestId, "refund", {
      approved: true,
      approver: "someone else",
      comment: null,
    });
    const response = await answer(request.requestId);
    expect(response.status).toBe("ANSWERED");
    expect(response.answer).toContain(`of 120 EUR was issued for order ${orderId}`);
    const [approved] = await auditOf(request.requestId, "APPROVED", 1);
    expect(approved?.reason).toBe("approved by alice");
  });
});
