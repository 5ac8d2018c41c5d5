import type { Command } from "commander";
import { expandTopics, isCoPartitioned, topics } from "../shared/topics.ts";
import { BatonAdmin, type TopicApplyResult } from "../shared/kafka/admin.ts";
import { createKafka, kafkaAccessError } from "../shared/kafka/client.ts";
import { kafkaConnectionOf } from "../shared/backbone.ts";
import type { BackboneConfig } from "../shared/config.ts";
import { createLogger } from "../shared/telemetry/logger.ts";
import { loadCliConfig } from "./config.ts";
import { runAction } from "./run-action.ts";

/**
 * Applies Baton's declared topics to the cluster and waits for its group coordinator; returns each topic's result.
 * On a cluster that holds runs, the co-partitioned topics' partition count is changed only with `repartition`.
 */
export async function applyDeclaredTopics(
  options: { repartition?: boolean; config?: BackboneConfig } = {},
): Promise<TopicApplyResult[]> {
  const config = options.config ?? loadCliConfig();
  // kafkajs logs each retry while a restarted broker loads its coordinator; failures still end in a thrown error.
  const logger = createLogger({ service: "baton-cli", level: "fatal" });
  let admin: BatonAdmin;
  try {
    admin = await BatonAdmin.connect(createKafka(kafkaConnectionOf(config, "baton-cli", logger)));
  } catch (error) {
    throw kafkaAccessError(error, config.KAFKA_SASL_USERNAME) ?? error;
  }
  try {
    const holdsRuns = options.repartition !== true && (await admin.holdsMessages("baton.runs"));
    const results = await admin.applyTopics(
      expandTopics(topics),
      holdsRuns
        ? {
            holdPartitions: {
              applies: isCoPartitioned,
              reason:
                "the cluster holds runs, and a request's partition number says which instance owns its run: new " +
                "partitions would move runs in flight to other owners. Apply it when no run is in flight, with " +
                "`baton topics apply --repartition` (README: Scaling a stage)",
            },
          }
        : {},
    );
    await admin.waitForGroupCoordinator();
    return results;
  } finally {
    await admin.disconnect();
  }
}

/** Prints topic results for people (refusals with one reason together); returns whether any was refused. */
export function printTopicResults(results: TopicApplyResult[]): boolean {
  const width = Math.max(...results.map((result) => result.topic.length));
  const refusals = new Map<string, string[]>();
  for (const result of results) {
    const name = result.topic.padEnd(width);
    if (result.action === "created") console.log(`  created    ${name}  (${result.partitions} partitions)`);
    else if (result.action === "unchanged") console.log(`  unchanged  ${name}`);
    else if (result.action === "updated") console.log(`  updated    ${name}  ${result.changes.join("; ")}`);
    else refusals.set(result.reason, [...(refusals.get(result.reason) ?? []), result.topic]);
  }
  for (const [reason, names] of refusals) {
    if (names.length === 1) console.log(`  REFUSED    ${(names[0] ?? "").padEnd(width)}  ${reason}`);
    else console.log(`  REFUSED    ${names.length} topics (${names.join(", ")}): ${reason}`);
  }
  return refusals.size > 0;
}

/** `baton topics apply|list`. */
export function registerTopicsCommands(program: Command): void {
  const group = program.command("topics").description("Kafka topics as code (shared/topics.ts)");
  group
    .command("apply")
    .description("create or update every declared topic, its retry topics and dead-letter topic")
    .option("--json", "print the results as JSON")
    .option(
      "--repartition",
      "change the partition count of the per-request topics even though the cluster holds runs (runs in flight may fail)",
    )
    .addHelpText("after", "\nExample:\n  $ baton topics apply\n  $ baton topics apply --repartition\n")
    .action(
      runAction(async (options: { json?: boolean; repartition?: boolean }) => {
        const results = await applyDeclaredTopics({ repartition: options.repartition === true });
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
