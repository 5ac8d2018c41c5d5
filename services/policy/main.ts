import { parseConfig } from "../../shared/config.ts";
import { loadPolicy } from "../../shared/policy-file.ts";
import type { ApprovalDecision, Draft, ToolCall } from "../../shared/schemas/records.ts";
import { startStageProcess, type StageProcess } from "../../shared/stage-process.ts";
import { policyConfigSchema } from "./config.ts";
import { applyApproval, checkAnswer, checkCall } from "./policy.ts";

/** Starts the policy stage: every planned call, every approval and every answer passes here. */
export async function runPolicy(env: Record<string, string | undefined>): Promise<StageProcess> {
  const config = parseConfig(policyConfigSchema, env);
  const policy = await loadPolicy(config.POLICY_FILE);
  return startStageProcess<ToolCall | ApprovalDecision | Draft>({
    stage: "policy",
    config,
    metricsPort: config.METRICS_PORT,
    // Outputs and input offsets commit together: a stage killed mid-chunk leaves no duplicate behind.
    transactional: true,
    sessionTimeoutMs: 10_000,
    topics: ["baton.tool-calls", "baton.approvals", "baton.drafts"],
    partitionsConsumedConcurrently: config.POLICY_CONCURRENCY,
    setup: () =>
      Promise.resolve({
        handler: (message) => {
          const now = Date.now();
          if (message.topic === "baton.tool-calls")
            return Promise.resolve(checkCall(message.value as ToolCall, policy, now));
          if (message.topic === "baton.approvals")
            return Promise.resolve(applyApproval(message.value as ApprovalDecision, now));
          return Promise.resolve(checkAnswer(message.value as Draft, policy, now));
        },
      }),
  });
}
