// kafkajs tells a consumer its new partitions only through the GROUP_JOIN event, emitted just before it starts
// fetching them, and has no rebalance listener to wait on. A Baton stage must fence the previous owner of each new
// partition (initialise the partition's transactional producer, which aborts or completes that owner's open
// transaction) before it reads the partition's committed offset, as Kafka Streams did with one transactional id per
// input partition; and a member that is asked to rebalance should first finish and commit the work it has in
// flight, while its partitions are still its own (what the Java consumer's onPartitionsRevoked is for). This module
// gives kafkajs's ConsumerGroup both: before a member of the group joins again it awaits `beforeJoin`, and after each
// join and sync it awaits `afterJoin`, before the first fetch resolves any offset (docs/decisions/006).
// kafkajs 2.2.4 is its last release, so the internal it wraps does not move under it.
import { createRequire } from "node:module";
import type { PartitionAssigner } from "kafkajs";

/** What a member learns at the end of a join: who it is in the group now, and what it owns. */
export interface JoinedGroup {
  memberId: string;
  generationId: number;
  /** Partitions per topic assigned to this member. */
  assignment: Record<string, number[]>;
}

/**
 * Runs after each join, before anything is fetched. `heartbeat` keeps the membership alive while it runs and throws
 * when the group has moved on (a rebalance, this member unknown); a hook that throws such an error makes the member
 * join again.
 */
export type AfterJoin = (joined: JoinedGroup, heartbeat: () => Promise<void>) => Promise<void>;

/** What a member does around each join of its group. */
export interface JoinHooks {
  /**
   * Runs before a member that holds partitions joins again (a rebalance started): nobody else owns its partitions
   * until it has joined, so work it finishes now can still commit. Bounded by the caller.
   */
  beforeJoin?: () => Promise<void>;
  afterJoin: AfterJoin;
}

const hooksKey = Symbol("baton.joinHooks");

interface AssignerWithHook {
  [hooksKey]?: JoinHooks;
}

interface ConsumerGroupInternals {
  assigners: AssignerWithHook[];
  memberId: string | null;
  generationId: number;
  joinAndSync(this: ConsumerGroupInternals): Promise<void>;
  assigned(): Array<{ topic: string; partitions: number[] }>;
  heartbeat(options: { interval: number }): Promise<void>;
}

/** Makes a consumer built with this assigner await the hooks around each join (see the module comment). */
export function withJoinHooks(assigner: PartitionAssigner, hooks: JoinHooks): PartitionAssigner {
  installJoinHooks();
  return (config) => Object.assign(assigner(config), { [hooksKey]: hooks });
}

/** Errors after which kafkajs joins the group again instead of giving up. */
export function isRejoinError(error: unknown): boolean {
  const type = (error as { type?: unknown } | null)?.type;
  return (
    type === "REBALANCE_IN_PROGRESS" ||
    type === "ILLEGAL_GENERATION" ||
    type === "NOT_COORDINATOR_FOR_GROUP" ||
    type === "UNKNOWN_MEMBER_ID"
  );
}

const require = createRequire(import.meta.url);
// kafkajs's own error class: its runner logs other errors thrown from eachBatch as failures of the stage's code.
const { KafkaJSError } = require("kafkajs/src/errors.js") as {
  KafkaJSError: new (message: string, options: { retriable: boolean }) => Error;
};

let installed = false;

function installJoinHooks(): void {
  if (installed) return;
  installed = true;
  const ConsumerGroup = require("kafkajs/src/consumer/consumerGroup.js") as { prototype: ConsumerGroupInternals };
  const { joinAndSync } = ConsumerGroup.prototype as { joinAndSync: ConsumerGroupInternals["joinAndSync"] };
  ConsumerGroup.prototype.joinAndSync = async function (this: ConsumerGroupInternals): Promise<void> {
    const hooks = this.assigners.find((assigner) => assigner[hooksKey] !== undefined)?.[hooksKey];
    if (hooks?.beforeJoin !== undefined && this.memberId !== null) await hooks.beforeJoin();
    for (;;) {
      await joinAndSync.call(this);
      if (hooks === undefined || this.memberId === null) return;
      const assignment = Object.fromEntries(this.assigned().map(({ topic, partitions }) => [topic, partitions]));
      try {
        await hooks.afterJoin({ memberId: this.memberId, generationId: this.generationId, assignment }, () =>
          this.heartbeat({ interval: 0 }),
        );
        return;
      } catch (error) {
        if (!isRejoinError(error)) throw error;
        if ((error as { type?: unknown }).type === "UNKNOWN_MEMBER_ID") this.memberId = null;
      }
    }
  };
}

/** An error that makes kafkajs's runner join the group again (it treats it as a rebalance in progress). */
export function rejoinError(reason: string): Error {
  return Object.assign(new KafkaJSError(`joining the group again: ${reason}`, { retriable: true }), {
    type: "REBALANCE_IN_PROGRESS",
  });
}
