import kafkajs, { type Admin, type Kafka } from "kafkajs";
import { BatonError } from "../errors.ts";
import type { TopicSpec } from "../topics.ts";
import type { AclEntry } from "../security/acls.ts";

const { ConfigResourceTypes, AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } = kafkajs;

/** What applying one topic declaration did. */
export type TopicApplyResult =
  | { topic: string; action: "created"; partitions: number }
  | { topic: string; action: "unchanged" }
  | { topic: string; action: "updated"; changes: string[] }
  | { topic: string; action: "refused"; reason: string };

/** A consumer group as `describe` shows it. */
export interface GroupDescription {
  groupId: string;
  state: string;
  protocol: string;
  members: Array<{ memberId: string; clientId: string; host: string }>;
}

/** Kafka administration Baton needs: topics as code, groups, offsets. */
export class BatonAdmin {
  private readonly admin: Admin;

  private constructor(admin: Admin) {
    this.admin = admin;
  }

  /** Connects an admin client. */
  static async connect(kafka: Kafka): Promise<BatonAdmin> {
    const admin = kafka.admin();
    try {
      await admin.connect();
    } catch (error) {
      throw new BatonError("KAFKA_UNAVAILABLE", `admin cannot connect: ${(error as Error).message}`, { cause: error });
    }
    return new BatonAdmin(admin);
  }

  /**
   * Creates ALLOW rules (from any host) on a cluster with an authorizer; creating one that exists changes nothing.
   * Needs a principal allowed to alter the cluster's ACLs (the admin, a super user).
   */
  async createAcls(entries: readonly AclEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.admin.createAcls({
      acl: entries.map((entry) => ({
        principal: entry.principal,
        host: "*",
        resourceType: AclResourceTypes[entry.resourceType],
        resourceName: entry.resourceName,
        resourcePatternType: ResourcePatternTypes[entry.patternType],
        operation: AclOperationTypes[entry.operation],
        permissionType: AclPermissionTypes.ALLOW,
      })),
    });
  }

  /** Names of the topics on the cluster (internal ones excluded). */
  async listTopics(): Promise<string[]> {
    return (await this.admin.listTopics()).filter((name) => !name.startsWith("__"));
  }

  /**
   * Makes the cluster match the declared topics, idempotently: missing topics are created, a larger
   * partition count is applied, changed configs are set, and a smaller partition count (which Kafka
   * cannot do) is refused with the reason; nothing is silently ignored. `holdPartitions` refuses to raise the
   * partition count of the topics it applies to, with its reason.
   */
  async applyTopics(
    specs: readonly TopicSpec[],
    options: { holdPartitions?: { applies: (topic: string) => boolean; reason: string } } = {},
  ): Promise<TopicApplyResult[]> {
    const existing = new Set(await this.admin.listTopics());
    const missing = specs.filter((spec) => !existing.has(spec.name));
    const present = specs.filter((spec) => existing.has(spec.name));
    const results: TopicApplyResult[] = [];

    if (missing.length > 0) {
      await this.admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((spec) => ({
          topic: spec.name,
          numPartitions: spec.partitions,
          configEntries: Object.entries(spec.config).map(([name, value]) => ({ name, value })),
        })),
      });
      for (const spec of missing) results.push({ topic: spec.name, action: "created", partitions: spec.partitions });
    }
    if (present.length === 0) return results;

    const metadata = await this.admin.fetchTopicMetadata({ topics: present.map((spec) => spec.name) });
    const partitionCounts = new Map(metadata.topics.map((topic) => [topic.name, topic.partitions.length]));
    const configs = await this.admin.describeConfigs({
      includeSynonyms: false,
      resources: present.map((spec) => ({
        type: ConfigResourceTypes.TOPIC,
        name: spec.name,
        configNames: Object.keys(spec.config),
      })),
    });
    const actual = new Map(
      configs.resources.map((resource) => [
        resource.resourceName,
        new Map(resource.configEntries.map((entry) => [entry.configName, entry.configValue])),
      ]),
    );

    for (const spec of present) {
      const current = partitionCounts.get(spec.name) ?? 0;
      if (current > spec.partitions) {
        results.push({
          topic: spec.name,
          action: "refused",
          reason: `has ${current} partitions, declared ${spec.partitions}: Kafka cannot remove partitions; raise the declaration to ${current} or recreate the topic`,
        });
        continue;
      }
      if (current < spec.partitions && options.holdPartitions?.applies(spec.name) === true) {
        results.push({
          topic: spec.name,
          action: "refused",
          reason: `has ${current} partitions, declared ${spec.partitions}: ${options.holdPartitions.reason}`,
        });
        continue;
      }
      const changes: string[] = [];
      if (current < spec.partitions) {
        await this.admin.createPartitions({ topicPartitions: [{ topic: spec.name, count: spec.partitions }] });
        changes.push(`partitions ${current} -> ${spec.partitions}`);
      }
      const actualConfig = actual.get(spec.name) ?? new Map<string, string>();
      const differing = Object.entries(spec.config).filter(([name, value]) => actualConfig.get(name) !== value);
      if (differing.length > 0) {
        await this.admin.alterConfigs({
          validateOnly: false,
          resources: [
            {
              type: ConfigResourceTypes.TOPIC,
              name: spec.name,
              configEntries: Object.entries(spec.config).map(([name, value]) => ({ name, value })),
            },
          ],
        });
        for (const [name, value] of differing)
          changes.push(`${name} ${actualConfig.get(name) ?? "(unset)"} -> ${value}`);
      }
      results.push(
        changes.length === 0
          ? { topic: spec.name, action: "unchanged" }
          : { topic: spec.name, action: "updated", changes },
      );
    }
    return results;
  }

  /** Partition count and topic-level configs of one topic. */
  async describeTopic(
    topic: string,
    configNames: string[],
  ): Promise<{ partitions: number; config: Record<string, string> }> {
    const metadata = await this.admin.fetchTopicMetadata({ topics: [topic] });
    const configs = await this.admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames }],
    });
    const config: Record<string, string> = {};
    for (const entry of configs.resources[0]?.configEntries ?? []) config[entry.configName] = entry.configValue;
    return { partitions: metadata.topics[0]?.partitions.length ?? 0, config };
  }

  /** Deletes topics (tests and `baton topics` clean-up). */
  async deleteTopics(topics: string[]): Promise<void> {
    if (topics.length > 0) await this.admin.deleteTopics({ topics });
  }

  /**
   * Waits until the broker's group coordinator answers (a fresh broker loads `__consumer_offsets` after its first
   * start, and a consumer that joins meanwhile crashes and restarts).
   */
  async waitForGroupCoordinator(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.admin.describeGroups(["baton-coordinator-probe"]);
        return;
      } catch (error) {
        if (Date.now() > deadline)
          throw new BatonError(
            "KAFKA_UNAVAILABLE",
            `the group coordinator did not answer: ${(error as Error).message}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  /** A consumer group's state and members. */
  async describeGroup(groupId: string): Promise<GroupDescription> {
    const { groups } = await this.admin.describeGroups([groupId]);
    const group = groups[0];
    if (group === undefined) throw new BatonError("INVALID_INPUT", `no consumer group ${groupId}`);
    return {
      groupId: group.groupId,
      state: group.state,
      protocol: group.protocol,
      members: group.members.map((member) => ({
        memberId: member.memberId,
        clientId: member.clientId,
        host: member.clientHost,
      })),
    };
  }

  /** Committed offsets of a group on a topic, by partition. */
  async groupOffsets(groupId: string, topic: string): Promise<Map<number, string>> {
    const [entry] = await this.admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((entry?.partitions ?? []).map((partition) => [partition.partition, partition.offset]));
  }

  /**
   * Whether a topic exists and holds any message. A broker that has just started refuses offset requests until
   * its partitions have leaders again: asked again for up to 30 s.
   */
  async holdsMessages(topic: string): Promise<boolean> {
    if (!(await this.admin.listTopics()).includes(topic)) return false;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const offsets = await this.admin.fetchTopicOffsets(topic);
        return offsets.some((partition) => BigInt(partition.high) > BigInt(partition.low));
      } catch (error) {
        if (attempt >= 60 || (error as { retriable?: unknown }).retriable !== true) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /**
   * The earliest and end offsets of each partition of a topic. The end is read-committed (kafkajs's ListOffsets
   * asks at READ_COMMITTED): the last stable offset, below any open transaction, which a reader can reach.
   */
  async partitionOffsets(topic: string): Promise<Array<{ partition: number; low: bigint; end: bigint }>> {
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return offsets.map((entry) => ({ partition: entry.partition, low: BigInt(entry.low), end: BigInt(entry.high) }));
  }

  /** Latest (high-water) offsets of a topic, by partition. */
  async topicEndOffsets(topic: string): Promise<Map<number, string>> {
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((partition) => [partition.partition, partition.high]));
  }

  /** A group's committed offset on each partition of a topic it has committed on; null where it has none. */
  async committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint | null>> {
    const [entry] = await this.admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map(
      (entry?.partitions ?? []).map((partition) => [
        partition.partition,
        Number(partition.offset) < 0 ? null : BigInt(partition.offset),
      ]),
    );
  }

  /**
   * Per partition of a topic, the offset of the first message written at or after a time (epoch ms), or the end
   * where none is, as `kafka-consumer-groups --reset-offsets --to-datetime` finds it.
   */
  async offsetsAtTime(topic: string, timestamp: number): Promise<Map<number, bigint>> {
    const offsets = await this.admin.fetchTopicOffsetsByTimestamp(topic, timestamp);
    return new Map(offsets.map((entry) => [entry.partition, BigInt(entry.offset)]));
  }

  /**
   * Commits offsets for a consumer group, which must have no members (as `kafka-consumer-groups --reset-offsets
   * --execute` does): where the group's next member reads those partitions from. Other partitions keep theirs.
   */
  async commitGroupOffsets(
    groupId: string,
    topic: string,
    offsets: ReadonlyArray<{ partition: number; offset: bigint }>,
  ): Promise<void> {
    if (offsets.length === 0) return;
    await this.admin.setOffsets({
      groupId,
      topic,
      partitions: offsets.map((entry) => ({ partition: entry.partition, offset: entry.offset.toString() })),
    });
  }

  /** Moves a group's offsets on a topic to the earliest or latest message (the group must have no members). */
  async resetGroupOffsets(groupId: string, topic: string, to: "earliest" | "latest"): Promise<void> {
    // Commits real offsets (as kafka-consumer-groups --reset-offsets does), not kafkajs's -2/-1 sentinels.
    const offsets = await this.admin.fetchTopicOffsets(topic);
    await this.admin.setOffsets({
      groupId,
      topic,
      partitions: offsets.map((partition) => ({
        partition: partition.partition,
        offset: to === "earliest" ? partition.low : partition.high,
      })),
    });
  }

  /** Closes the connection. */
  async disconnect(): Promise<void> {
    await this.admin.disconnect();
  }
}
