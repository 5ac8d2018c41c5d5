import { userInfo } from "node:os";
import type { Command } from "commander";
import type { ApprovalDecision, ApprovalRequest } from "../shared/schemas/records.ts";
import { BatonError } from "../shared/errors.ts";
import { openClient, signatureHeaders, type CliClient } from "./client.ts";
import { readTopics } from "./read-topics.ts";
import { runAction } from "./run-action.ts";

/** An approval request still waiting, with the partition it is on: its run's partition number. */
export type PendingApproval = ApprovalRequest & { partition: number };

/** The approval requests still waiting (the latest value of each key that is not a tombstone). */
export async function pendingApprovals(client: CliClient): Promise<PendingApproval[]> {
  const messages = await readTopics(client, ["baton.approval-requests"]);
  const latest = new Map<string, PendingApproval | null>();
  for (const message of messages) {
    if (message.key !== null)
      latest.set(
        message.key,
        message.raw === null ? null : { ...(message.value as ApprovalRequest), partition: message.partition },
      );
  }
  return [...latest.values()].filter((value): value is PendingApproval => value !== null);
}

/** Answers one pending approval request by producing a decision onto baton.approvals. */
export async function decideApproval(
  client: CliClient,
  requestId: string,
  stepId: string,
  decision: { approved: boolean; approver: string; comment: string | null },
): Promise<ApprovalDecision> {
  const pending = (await pendingApprovals(client)).find(
    (item) => item.requestId === requestId && item.stepId === stepId,
  );
  if (pending === undefined) {
    throw new BatonError(
      "INVALID_INPUT",
      `no pending approval for ${requestId} step ${stepId}; list them with: baton approvals`,
    );
  }
  const value: ApprovalDecision = {
    requestId: pending.requestId,
    tenant: pending.tenant,
    stepId: pending.stepId,
    tool: pending.tool,
    arguments: pending.arguments,
    idempotencyKey: pending.idempotencyKey,
    attempt: pending.attempt,
    timeoutMs: pending.timeoutMs,
    dispatchedAt: pending.dispatchedAt,
    deadlineAt: pending.deadlineAt,
    fallbackFor: pending.fallbackFor,
    // The digest of the call it answers: policy applies the decision only to that waiting call.
    callDigest: pending.callDigest,
    ...decision,
    decidedAt: Date.now(),
  };
  // On the run's partition number, where the request's other messages are, whatever the key hashes to.
  // Signed when BATON_PRINCIPAL is set: with principals in the policy file, the signer is the approver.
  const headers = signatureHeaders(client, "baton.approvals", value);
  await client.producer.send([
    { topic: "baton.approvals", key: requestId, value, partition: pending.partition, headers },
  ]);
  return value;
}

/** `baton approvals`, `baton approve`, `baton reject`. */
export function registerApprovalCommands(program: Command): void {
  program
    .command("approvals")
    .description("list tool calls waiting for a person's approval")
    .option("--json", "print as JSON")
    .addHelpText("after", "\nExample:\n  $ baton approvals\n")
    .action(
      runAction(async (options: { json?: boolean }) => {
        const client = await openClient();
        try {
          const pending = await pendingApprovals(client);
          if (options.json === true) console.log(JSON.stringify(pending, null, 2));
          else if (pending.length === 0) console.log("no calls wait for approval");
          else {
            for (const item of pending) {
              console.log(
                `${item.requestId} ${item.stepId}: ${item.tool} ${item.arguments} (${item.ruleId}: ${item.reason})`,
              );
            }
          }
        } finally {
          await client.close();
        }
      }),
    );
  for (const verb of ["approve", "reject"] as const) {
    program
      .command(verb)
      .description(`${verb} a tool call that waits for approval`)
      .argument("<requestId>")
      .argument("<stepId>")
      .option("--by <name>", "who decides", userInfo().username)
      .option("--comment <text>", "why")
      .addHelpText("after", `\nExample:\n  $ baton ${verb} 7d3f0c2e-… refund --comment "checked the photos"\n`)
      .action(
        runAction(async (requestId: string, stepId: string, options: { by: string; comment?: string }) => {
          const client = await openClient();
          try {
            await decideApproval(client, requestId, stepId, {
              approved: verb === "approve",
              approver: options.by,
              comment: options.comment ?? null,
            });
            console.log(`${verb === "approve" ? "approved" : "rejected"} ${requestId} ${stepId}`);
          } finally {
            await client.close();
          }
        }),
      );
  }
}
