import { parseConfig } from "../../shared/config.ts";
import type { CompletedRun } from "../../shared/schemas/records.ts";
import { startStageProcess, type StageProcess } from "../../shared/stage-process.ts";
import { summarizerConfigSchema } from "./config.ts";
import { composeDraft } from "./summarizer.ts";
import { summarizeRunWithLlm } from "./llm-summarizer.ts";
import { createLlmClient } from "../../shared/llm/llm-client.ts";
import { defaultToolOutputPolicy } from "../../shared/llm/tool-output-screen.ts";
import { loadPolicy } from "../../shared/policy-file.ts";
import { eventsTopic, progressEvent } from "../../shared/progress-events.ts";
import { PartialTextPublisher } from "./partial-text.ts";

/** Starts the summarizer: completed runs in, draft answers (for policy) out. */
export async function runSummarizer(env: Record<string, string | undefined>): Promise<StageProcess> {
  const config = parseConfig(summarizerConfigSchema, env);
  const policy = await loadPolicy(config.POLICY_FILE);
  return startStageProcess<CompletedRun>({
    stage: "summarizer",
    config,
    metricsPort: config.METRICS_PORT,
    // Outputs and input offsets commit together: a stage killed mid-chunk leaves no duplicate behind.
    transactional: true,
    topics: ["baton.completed-runs"],
    partitionsConsumedConcurrently: config.SUMMARIZER_CONCURRENCY,
    sessionTimeoutMs: config.LLM_PROVIDER === "none" ? 10_000 : Math.max(10_000, config.LLM_TIMEOUT_MS * 2 + 5_000),
    setup: ({ backbone, producer }) => {
      const llm = createLlmClient(config);
      return Promise.resolve({
        handler: async (message) => {
          const run = message.value;
          if (llm === undefined || run.steps.length === 0) return { messages: [composeDraft(run, Date.now())] };
          const tenant = policy.tenants[run.tenant];
          // Partial text is told as the model writes it, outside the chunk's transaction (which ends with the answer).
          const partials =
            tenant?.partialText === true
              ? new PartialTextPublisher(policy.answers, (text, sequence) =>
                  producer
                    .send([
                      {
                        topic: eventsTopic,
                        key: run.requestId,
                        value: progressEvent(run.requestId, "PARTIAL_TEXT", Date.now(), { text, sequence }),
                        partition: message.partition,
                      },
                    ])
                    .catch((error: unknown) =>
                      backbone.logger.warn({ err: error, requestId: run.requestId }, "could not send partial text"),
                    ),
                )
              : undefined;
          const messages = await summarizeRunWithLlm(run, {
            client: llm,
            toolOutput: tenant?.toolOutput ?? defaultToolOutputPolicy,
            now: Date.now(),
            onFailure: (error) =>
              backbone.logger.warn({ err: error, requestId: run.requestId }, "LLM summary failed; using the template"),
            ...(partials === undefined ? {} : { onText: (piece: string) => partials.push(piece) }),
          });
          await partials?.finish();
          return { messages };
        },
      });
    },
  });
}
