import type { Command } from "commander";
import { BatonError } from "../shared/errors.ts";
import type { StageProcess } from "../shared/stage-process.ts";
import { runExecutor } from "../services/executor/main.ts";
import { runPlanner } from "../services/planner/main.ts";
import { runPolicy } from "../services/policy/main.ts";
import { runSummarizer } from "../services/summarizer/main.ts";
import { runGateway } from "../services/gateway/main.ts";

/** The pipeline's stages, in the order a request meets them. */
export const stageNames = ["planner", "policy", "executor", "summarizer", "gateway"] as const;
/** One of the pipeline's stages. */
export type StageName = (typeof stageNames)[number];

const starters: Record<StageName, (env: Record<string, string | undefined>) => Promise<StageProcess>> = {
  planner: runPlanner,
  policy: runPolicy,
  executor: runExecutor,
  summarizer: runSummarizer,
  gateway: runGateway,
};

const descriptions: Record<StageName, string> = {
  planner: "turn requests into plans of tool steps and drive them (reads baton.requests, baton.tool-results)",
  policy: "check every tool call and every answer (reads baton.tool-calls, baton.approvals, baton.drafts)",
  executor: "call tools on MCP servers (reads baton.allowed-calls)",
  summarizer: "compose answers from finished runs (reads baton.completed-runs)",
  gateway: "serve the HTTP API on GATEWAY_PORT (8080): POST /v1/requests, status, progress as SSE (reads baton.events)",
};

/** `baton planner|policy|executor|summarizer`: run one stage in the foreground; scale by running more. */
export function registerStageCommands(program: Command): void {
  for (const stage of stageNames) {
    program
      .command(stage)
      .description(`run the ${stage}: ${descriptions[stage]}`)
      .option("--tag <label>", "a label shown in process listings (baton stack uses it to find the stages it started)")
      .addHelpText(
        "after",
        `\nRuns until SIGTERM or Ctrl-C, then finishes in-flight work, commits and exits 0.\nEach instance joins consumer group baton-${stage}; run more to scale.\n\nExample:\n  $ baton ${stage}\n`,
      )
      .action(async () => {
        try {
          await starters[stage](process.env);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          process.stderr.write(`error: ${stage} cannot start: ${message}\n`);
          if (error instanceof BatonError && error.code === "KAFKA_UNAVAILABLE") {
            process.stderr.write("hint: is the local stack up? run `baton stack up`\n");
          }
          if (
            error instanceof BatonError &&
            (error.code === "AUTHENTICATION_FAILED" || error.code === "NOT_AUTHORIZED")
          ) {
            process.stderr.write(
              `hint: run the ${stage} as User:baton-${stage}; \`baton acls print\` lists its ACLs\n`,
            );
          }
          process.exit(1);
        }
      });
  }
}
