import { AssignerProtocol, type PartitionAssigner } from "kafkajs";

/** Partitions per topic for one member, as a group assignment states them. */
export type TopicPartitions = Record<string, number[]>;

/**
 * Assigns partition number n of every subscribed topic to the same member, partition numbers spread over the
 * members in turn. Baton's per-request topics are co-partitioned by requestId, so one member then owns all of
 * a request's messages (its request, its tool results, its deadline and their retries): one writer per run, and
 * one transactional id (`<group>-p<n>`) used by one member only. Kafka's own round-robin assignment would hand
 * `baton.requests` p3 and `baton.tool-results` p3 to different members.
 */
export function coPartitionedAssignment(
  members: readonly string[],
  partitionsByTopic: ReadonlyMap<string, readonly number[]>,
): Map<string, TopicPartitions> {
  const sortedMembers = [...members].sort();
  const numbers = [...new Set([...partitionsByTopic.values()].flat())].sort((a, b) => a - b);
  const owner = new Map(numbers.map((partition, index) => [partition, sortedMembers[index % sortedMembers.length]]));
  const assignment = new Map<string, TopicPartitions>(sortedMembers.map((member) => [member, {}]));
  for (const [topic, partitions] of partitionsByTopic) {
    for (const partition of partitions) {
      const member = owner.get(partition);
      const topics = member === undefined ? undefined : assignment.get(member);
      if (topics === undefined) continue;
      (topics[topic] ??= []).push(partition);
    }
  }
  return assignment;
}

/** The kafkajs assigner built on {@link coPartitionedAssignment}. */
export const coPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: "BatonCoPartitioned",
  version: 0,
  assign({ members, topics }) {
    const partitionsByTopic = new Map(
      topics.map((topic) => [topic, cluster.findTopicPartitionMetadata(topic).map((meta) => meta.partitionId)]),
    );
    const assignment = coPartitionedAssignment(
      members.map((member) => member.memberId),
      partitionsByTopic,
    );
    return Promise.resolve(
      [...assignment].map(([memberId, memberAssignment]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 0,
          assignment: memberAssignment,
          userData: Buffer.alloc(0),
        }),
      })),
    );
  },
  protocol({ topics }) {
    return {
      name: "BatonCoPartitioned",
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
    };
  },
});
