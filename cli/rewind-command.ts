import { InvalidArgumentError, type Command } from "commander";
import { BatonError } from "../shared/errors.ts";
import { BatonAdmin } from "../shared/kafka/admin.ts";
import { createKafka } from "../shared/kafka/client.ts";
import { createLogger } from "../shared/telemetry/logger.ts";
import { stageInputs, stageInputTopics } from "../shared/topics.ts";
import { loadCliConfig } from "./config.ts";
import {
  formatRewind,
  moves,
  parseRewindTarget,
  planRewind,
  type PartitionMove,
  type PartitionStanding,
  type RewindTarget,
} from "./rewind-plan.ts";
import { runAction } from "./run-action.ts";

/** A stage whose consumer group can be rewound. */
export type RewoundStage = keyof typeof stageInputs;

function stageName(text: string): RewoundStage {
  if (!Object.hasOwn(stageInputs, text))
    throw new InvalidArgumentError(`expected one of ${Object.keys(stageInputs).join(", ")}, got "${text}"`);
  return text as RewoundStage;
}

/** What a rewind did, or would do. */
export interface RewindOutcome {
  groupId: string;
  moves: PartitionMove[];
}

/**
 * Moves stage `baton-<stage>`'s consumer group to a point on every partition of its inputs and their retry topics,
 * as `kafka-consumer-groups --reset-offsets` does; `dryRun` only plans. Refused while the group has members, named.
 */
export async function rewindStage(
  admin: BatonAdmin,
  stage: RewoundStage,
  target: RewindTarget,
  options: { dryRun: boolean },
): Promise<RewindOutcome> {
  const groupId = `baton-${stage}`;
  const group = await admin.describeGroup(groupId);
  if (group.members.length > 0) {
    const members = group.members.map((member) => `${member.clientId} on ${member.host} (member ${member.memberId})`);
    throw new BatonError(
      "INVALID_INPUT",
      `${groupId} has ${members.length} running member${members.length === 1 ? "" : "s"}: ${members.join(", ")}; ` +
        `stop every ${stage} (SIGTERM, or baton stack down for the ones it started) and rewind again`,
    );
  }
  const existing = new Set(await admin.listTopics());
  const plan: PartitionMove[] = [];
  for (const topic of stageInputTopics(stage).filter((name) => existing.has(name))) {
    const [offsets, committed, atTime] = await Promise.all([
      admin.partitionOffsets(topic),
      admin.committedOffsets(groupId, topic),
      target.kind === "time" ? admin.offsetsAtTime(topic, target.at) : Promise.resolve(undefined),
    ]);
    const standings = offsets.map(({ partition, low, end }): PartitionStanding => ({
      topic,
      partition,
      low,
      end,
      committed: committed.get(partition) ?? null,
      ...(atTime?.has(partition) === true ? { atTime: atTime.get(partition) } : {}),
    }));
    const topicPlan = planRewind(
      standings.sort((a, b) => a.partition - b.partition),
      target,
    );
    plan.push(...topicPlan);
    if (!options.dryRun)
      await admin.commitGroupOffsets(
        groupId,
        topic,
        topicPlan.filter(moves).map((move) => ({ partition: move.partition, offset: move.next })),
      );
  }
  return { groupId, moves: plan };
}

/** `baton rewind <stage> --to <point> [--dry-run]`. */
export function registerRewindCommand(program: Command): void {
  program
    .command("rewind")
    .description("move a stage's consumer group to a point on all its inputs, so it reads them again from there")
    .argument("<stage>", `the stage: ${Object.keys(stageInputs).join(", ")}`, stageName)
    .requiredOption(
      "--to <point>",
      "earliest, latest, an ISO time (the first message at or after it), or an offset (offset:42); a time or earliest never moves a partition forward",
      parseRewindTarget,
    )
    .option("--dry-run", "print what would move and change nothing")
    .option("--json", "print the plan as JSON")
    .addHelpText(
      "after",
      "\nThe stage's inputs and their retry topics all move; the stage must be stopped (its group without members).\n" +
        "What is read again causes no second side effect: the executor answers a call it has run from its\n" +
        "idempotency records, and the planner ignores results of steps it has recorded.\n" +
        "\nExamples:\n  $ baton rewind executor --to 2026-11-29T10:00:00Z --dry-run\n  $ baton rewind planner --to earliest\n",
    )
    .action(
      runAction(async (stage: RewoundStage, options: { to: RewindTarget; dryRun?: boolean; json?: boolean }) => {
        const config = loadCliConfig();
        const logger = createLogger({ service: "baton-cli", level: "fatal" });
        const admin = await BatonAdmin.connect(
          createKafka({ brokers: config.KAFKA_BROKERS, clientId: "baton-cli", logger }),
        );
        try {
          const dryRun = options.dryRun === true;
          const outcome = await rewindStage(admin, stage, options.to, { dryRun });
          if (options.json === true) {
            console.log(
              JSON.stringify(
                {
                  groupId: outcome.groupId,
                  dryRun,
                  partitions: outcome.moves.map((move) => ({
                    topic: move.topic,
                    partition: move.partition,
                    current: move.current?.toString() ?? null,
                    next: move.next.toString(),
                    readAgain: Number(move.readAgain),
                    skipped: Number(move.skipped),
                  })),
                },
                null,
                2,
              ),
            );
          } else for (const line of formatRewind(outcome.groupId, outcome.moves, dryRun)) console.log(line);
        } finally {
          await admin.disconnect();
        }
      }),
    );
}
