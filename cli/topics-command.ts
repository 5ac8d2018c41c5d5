import type { Command } from "commander";
import { expandTopics, topics } from "../shared/topics.ts";
import { BatonAdmin, type TopicApplyResult } from "../shared/kafka/admin.ts";
import { createKafka } from "../shared/kafka/client.ts";
import { createLogger } from "../shared/telemetry/logger.ts";
import { loadCliConfig } from "./config.ts";
import { runAction } from "./run-action.ts";

/** Applies Baton's declared topics to the cluster and waits for its group coordinator; returns each topic's result. */
export async function applyDeclaredTopics(): Promise<TopicApplyResult[]> {
  const config = loadCliConfig();
  // kafkajs logs each retry while a restarted broker loads its coordinator; failures still end in a thrown error.
  const logger = createLogger({ service: "baton-cli", level: "fatal" });
  const admin = await BatonAdmin.connect(createKafka({ brokers: config.KAFKA_BROKERS, clientId: "baton-cli", logger }));
  try {
    const results = await admin.applyTopics(expandTopics(topics));
    await admin.waitForGroupCoordinator();
    return results;
  } finally {
    await admin.disconnect();
  }
}

/** Prints topic results for people; returns whether any was refused. */
export function printTopicResults(results: TopicApplyResult[]): boolean {
  const width = Math.max(...results.map((result) => result.topic.length));
  for (const result of results) {
    const name = result.topic.padEnd(width);
    if (result.action === "created") console.log(`  created    ${name}  (${result.partitions} partitions)`);
    else if (result.action === "unchanged") console.log(`  unchanged  ${name}`);
    else if (result.action === "updated") console.log(`  updated    ${name}  ${result.changes.join("; ")}`);
    else console.log(`  REFUSED    ${name}  ${result.reason}`);
  }
  return results.some((result) => result.action === "refused");
}

/** `baton topics apply|list`. */
export function registerTopicsCommands(program: Command): void {
  const group = program.command("topics").description("Kafka topics as code (shared/topics.ts)");
  group
    .command("apply")
    .description("create or update every declared topic, its retry topics and dead-letter topic")
    .option("--json", "print the results as JSON")
    .addHelpText("after", "\nExample:\n  $ baton topics apply\n")
    .action(
      runAction(async (options: { json?: boolean }) => {
        const results = await applyDeclaredTopics();
        if (options.json === true) console.log(JSON.stringify(results, null, 2));
        const refused =
          options.json === true ? results.some((r) => r.action === "refused") : printTopicResults(results);
        if (refused)
          throw new Error("some topics could not be applied (see REFUSED above); fix shared/topics.ts or the cluster");
      }),
    );
  group
    .command("list")
    .description("print the declared topics with their partitions, retention and value record")
    .addHelpText("after", "\nExample:\n  $ baton topics list\n")
    .action(
      runAction(async () => {
        for (const spec of expandTopics(topics)) {
          console.log(
            `${spec.name.padEnd(32)} ${String(spec.partitions).padStart(3)} partitions  ${spec.role.padEnd(11)} ${spec.valueRecord ?? "(raw bytes)"}`,
          );
        }
        await Promise.resolve();
      }),
    );
}
