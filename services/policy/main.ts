import { parseConfig } from "../../shared/config.ts";
import { KeyedTable } from "../../shared/kafka/keyed-table.ts";
import { loadPolicy } from "../../shared/policy-file.ts";
import type { ApprovalDecision, ApprovalRequest, Draft, ToolCall } from "../../shared/schemas/records.ts";
import { startStageProcess, type StageProcess } from "../../shared/stage-process.ts";
import { recordStateLoads } from "../../shared/telemetry/metrics.ts";
import { Principals } from "../../shared/security/principals.ts";
import { policyConfigSchema } from "./config.ts";
import { withProgressEvents } from "../../shared/progress-events.ts";
import { applyApproval, approvalKey, checkAnswer, checkCall, policyTopics, type PolicyOutcome } from "./policy.ts";

/** Starts the policy stage: every planned call, every approval and every answer passes here. */
export async function runPolicy(env: Record<string, string | undefined>): Promise<StageProcess> {
  const config = parseConfig(policyConfigSchema, env);
  const policy = await loadPolicy(config.POLICY_FILE);
  const principals = new Principals(policy);
  return startStageProcess<ToolCall | ApprovalDecision | Draft>({
    stage: "policy",
    config,
    metricsPort: config.METRICS_PORT,
    // Outputs and input offsets commit together: a stage killed mid-chunk leaves no duplicate behind.
    transactional: true,
    sessionTimeoutMs: 10_000,
    topics: ["baton.tool-calls", "baton.approvals", "baton.drafts"],
    // The calls waiting for a person, which policy itself put there: the only calls a decision can run.
    stateTopics: [policyTopics.approvalRequests],
    partitionsConsumedConcurrently: config.POLICY_CONCURRENCY,
    async setup({ backbone, metrics }) {
      const { kafka, codec, logger } = backbone;
      const waiting = new KeyedTable<ApprovalRequest>({
        kafka,
        codec,
        logger,
        topic: policyTopics.approvalRequests,
        partitioned: true,
      });
      await waiting.start();
      // A chunk's changes are visible to its later messages at once and reach the table when it commits; an
      // aborted chunk's are dropped, so its replay sees what Kafka holds.
      const pending = new Map<number, Map<string, ApprovalRequest | null>>();
      const waitingCall = (key: string, partition: number): ApprovalRequest | undefined => {
        const staged = pending.get(partition);
        if (staged?.has(key) === true) return staged.get(key) ?? undefined;
        return waiting.get(key);
      };
      const withState = (decided: PolicyOutcome, partition: number) => {
        const outcome = withProgressEvents(decided, Date.now());
        const change = outcome.approvalState;
        if (change === undefined) return { messages: outcome.messages, rawMessages: outcome.rawMessages };
        const staged = pending.get(partition) ?? new Map<string, ApprovalRequest | null>();
        staged.set(change.key, change.value);
        pending.set(partition, staged);
        return {
          messages: outcome.messages,
          rawMessages: outcome.rawMessages,
          afterCommit: () => {
            if (change.value === null) waiting.delete(change.key, partition);
            else waiting.set(change.key, change.value, partition);
            if (staged.get(change.key) === change.value) staged.delete(change.key);
          },
        };
      };
      return {
        onAssigned: async ({ numbers, added }) => {
          // Waiting calls of new (or reopened) partitions are read again, after their previous owner was fenced.
          pending.clear();
          const reopened = new Set(added);
          await waiting.own(numbers.filter((number) => !reopened.has(number)));
          await waiting.own(numbers);
          recordStateLoads(metrics, [{ topic: policyTopics.approvalRequests, loadStats: () => waiting.loadStats() }]);
        },
        onChunkAborted: (_topic, partition) => {
          pending.delete(partition);
        },
        handler: (message) => {
          const now = Date.now();
          if (message.topic === "baton.tool-calls")
            return Promise.resolve(withState(checkCall(message.value as ToolCall, policy, now), message.partition));
          if (message.topic === "baton.approvals") {
            const answer = message.value as ApprovalDecision;
            const call = waitingCall(approvalKey(answer.requestId, answer.stepId), message.partition);
            // Whether its signer may approve for the tenant of the call that waits (not the tenant it claims).
            const writer = principals.check(
              message.topic,
              answer,
              message.headers,
              call?.tenant ?? answer.tenant,
              "approve",
            );
            return Promise.resolve(withState(applyApproval(answer, call, policy, now, writer), message.partition));
          }
          return Promise.resolve(withProgressEvents(checkAnswer(message.value as Draft, policy, now), now));
        },
        shutdown: [{ name: "tables", run: () => waiting.stop() }],
      };
    },
  });
}
