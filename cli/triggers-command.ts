import type { Command } from "commander";
import { BatonError } from "../shared/errors.ts";
import { runTriggers } from "../services/gateway/triggers/main.ts";

/** `baton triggers`: run the workflows' cron and topic triggers in the foreground. */
export function registerTriggersCommand(program: Command): void {
  program
    .command("triggers")
    .description(
      "run the workflows' triggers (cron schedules and topics) without the gateway; run more, they fire once",
    )
    .addHelpText(
      "after",
      "\nReads the workflows' `triggers:` (WORKFLOWS_DIR) and submits a request on baton.requests for each cron\n" +
        "instant and each matching record. Topic triggers share consumer group TRIGGERS_GROUP_ID (baton-triggers).\n" +
        "Runs until SIGTERM or Ctrl-C.\n\nExample:\n  $ WORKFLOWS_DIR=workflows,my-workflows baton triggers\n",
    )
    .action(async () => {
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
