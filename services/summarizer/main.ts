import { parseConfig } from "../../shared/config.ts";
import type { CompletedRun } from "../../shared/schemas/records.ts";
import { startStageProcess, type StageProcess } from "../../shared/stage-process.ts";
import { summarizerConfigSchema } from "./config.ts";
import { composeDraft } from "./summarizer.ts";

/** Starts the summarizer: completed runs in, draft answers (for policy) out. */
export async function runSummarizer(env: Record<string, string | undefined>): Promise<StageProcess> {
  const config = parseConfig(summarizerConfigSchema, env);
  return startStageProcess<CompletedRun>({
    stage: "summarizer",
    config,
    sessionTimeoutMs: 10_000,
    topics: ["baton.completed-runs"],
    partitionsConsumedConcurrently: config.SUMMARIZER_CONCURRENCY,
    setup: () =>
      Promise.resolve({
        handler: (message) => Promise.resolve({ messages: [composeDraft(message.value, Date.now())] }),
      }),
  });
}
