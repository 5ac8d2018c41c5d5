import type { Command } from "commander";
import { parseConfig } from "../shared/config.ts";
import { BatonError } from "../shared/errors.ts";
import { triggersConfigSchema } from "../services/gateway/triggers/config.ts";
import { triggersOf } from "../services/gateway/triggers/index.ts";
import { runTriggers } from "../services/gateway/triggers/main.ts";
import { loadWorkflows } from "../services/planner/workflow-file.ts";
import { runAction } from "./run-action.ts";
import { formatTriggers, summarizeTriggers } from "./triggers-view.ts";

/** `baton triggers`: run the workflows' cron and topic triggers in the foreground, or list them. */
export function registerTriggersCommand(program: Command): void {
  program
    .command("triggers")
    .description(
      "run the workflows' triggers (cron schedules and topics) without the gateway; run more, they fire once",
    )
    .option("--list", "print the declared triggers and the next cron instants, then exit")
    .option("--json", "with --list, print JSON")
    .addHelpText(
      "after",
      "\nReads the workflows' `triggers:` (WORKFLOWS_DIR) and submits a request on baton.requests for each cron\n" +
        "instant and each matching record. Topic triggers share consumer group TRIGGERS_GROUP_ID (baton-triggers).\n" +
        "Runs until SIGTERM or Ctrl-C.\n\nExamples:\n  $ WORKFLOWS_DIR=workflows,my-workflows baton triggers\n" +
        "  $ baton triggers --list\n",
    )
    .action(async (options: { list?: boolean; json?: boolean }) => {
      if (options.list === true) {
        await runAction(async () => {
          const config = parseConfig(triggersConfigSchema, process.env);
          const summaries = summarizeTriggers(triggersOf(await loadWorkflows(config.WORKFLOWS_DIR)), new Date());
          if (options.json === true) console.log(JSON.stringify(summaries, null, 2));
          else for (const line of formatTriggers(summaries)) console.log(line);
        })();
        return;
      }
      try {
        await runTriggers(process.env);
      } catch (error) {
        process.stderr.write(
          `error: triggers cannot start: ${error instanceof Error ? error.message : String(error)}\n`,
        );
        if (error instanceof BatonError && error.code === "KAFKA_UNAVAILABLE")
          process.stderr.write("hint: is the local stack up? run `baton stack up`\n");
        process.exit(1);
      }
    });
}
