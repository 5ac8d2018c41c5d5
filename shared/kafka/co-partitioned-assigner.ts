import { AssignerProtocol, type PartitionAssigner } from "kafkajs";

/** Partitions per topic for one member, as a group assignment states them. */
export type TopicPartitions = Record<string, number[]>;

/** What a member tells the group leader when it joins: the partition numbers it owned, and in which generation. */
export interface OwnedNumbers {
  generation: number;
  numbers: number[];
}

/**
 * Assigns partition number n of every subscribed topic to the same member, and keeps each number where it was:
 * a join or a leave moves only the numbers it must to even the load (as Kafka's sticky assignor does, per number
 * instead of per topic-partition). Baton's per-request topics are co-partitioned by requestId, so one member owns
 * all of a request's messages (its request, tool results, deadline and their retries): one writer per run, and one
 * transactional id (`<group>-p<n>`) used by one member only.
 *
 * Each member gets `floor(N / M)` or `ceil(N / M)` numbers. A number two members claim goes to the claim of the
 * newer generation (the other is stale); then each member keeps its claims up to its quota, members that owned
 * more being the ones allowed the larger quota; what is left goes to the members with the fewest.
 */
export function coPartitionedAssignment(
  members: readonly string[],
  partitionsByTopic: ReadonlyMap<string, readonly number[]>,
  previous: ReadonlyMap<string, OwnedNumbers> = new Map(),
): Map<string, TopicPartitions> {
  const sortedMembers = [...members].sort();
  const numbers = [...new Set([...partitionsByTopic.values()].flat())].sort((a, b) => a - b);
  const owner = stickyOwners(sortedMembers, numbers, previous);
  const assignment = new Map<string, TopicPartitions>(sortedMembers.map((member) => [member, {}]));
  for (const [topic, partitions] of partitionsByTopic) {
    for (const partition of [...partitions].sort((a, b) => a - b)) {
      const member = owner.get(partition);
      const topics = member === undefined ? undefined : assignment.get(member);
      if (topics === undefined) continue;
      (topics[topic] ??= []).push(partition);
    }
  }
  return assignment;
}

/** The owner of each partition number: claims kept up to each member's quota, the rest spread to the least loaded. */
function stickyOwners(
  members: readonly string[],
  numbers: readonly number[],
  previous: ReadonlyMap<string, OwnedNumbers>,
): Map<number, string> {
  const owner = new Map<number, string>();
  if (members.length === 0) return owner;
  const valid = new Set(numbers);
  // A number claimed twice belongs to the newer generation's claim (ties: the first member by name).
  const claimant = new Map<number, { member: string; generation: number }>();
  for (const member of members) {
    const claim = previous.get(member);
    if (claim === undefined) continue;
    for (const number of claim.numbers) {
      if (!valid.has(number)) continue;
      const current = claimant.get(number);
      if (current === undefined || claim.generation > current.generation)
        claimant.set(number, { member, generation: claim.generation });
    }
  }
  const claims = new Map<string, number[]>(members.map((member) => [member, []]));
  for (const [number, { member }] of [...claimant].sort(([a], [b]) => a - b)) claims.get(member)?.push(number);

  const floor = Math.floor(numbers.length / members.length);
  let larger = numbers.length % members.length;
  // Members that held more keep more: they get the larger quotas first (ties: by name).
  const byClaims = [...members].sort(
    (a, b) => (claims.get(b)?.length ?? 0) - (claims.get(a)?.length ?? 0) || a.localeCompare(b),
  );
  const quota = new Map<string, number>();
  for (const member of byClaims) {
    const wantsMore = (claims.get(member)?.length ?? 0) > floor && larger > 0;
    quota.set(member, floor + (wantsMore ? 1 : 0));
    if (wantsMore) larger -= 1;
  }
  // Quotas still to hand out go to members in name order (they hold no surplus to keep).
  for (const member of members) {
    if (larger === 0) break;
    if (quota.get(member) === floor) {
      quota.set(member, floor + 1);
      larger -= 1;
    }
  }
  const load = new Map<string, number>(members.map((member) => [member, 0]));
  for (const member of members) {
    for (const number of (claims.get(member) ?? []).slice(0, quota.get(member) ?? 0)) {
      owner.set(number, member);
      load.set(member, (load.get(member) ?? 0) + 1);
    }
  }
  for (const number of numbers) {
    if (owner.has(number)) continue;
    const member = members
      .filter((candidate) => (load.get(candidate) ?? 0) < (quota.get(candidate) ?? 0))
      .sort((a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0) || a.localeCompare(b))[0];
    if (member === undefined) continue;
    owner.set(number, member);
    load.set(member, (load.get(member) ?? 0) + 1);
  }
  return owner;
}

/** Encodes what a member owned for its join metadata (`userData`). */
export function encodeOwned(owned: OwnedNumbers): Buffer {
  return Buffer.from(JSON.stringify(owned), "utf8");
}

/** Decodes a member's `userData`; a member of older code (or none) claims nothing. */
export function decodeOwned(userData: Buffer | undefined | null): OwnedNumbers | undefined {
  if (userData === undefined || userData === null || userData.length === 0) return undefined;
  try {
    const value = JSON.parse(userData.toString("utf8")) as Partial<OwnedNumbers>;
    if (typeof value.generation !== "number" || !Array.isArray(value.numbers)) return undefined;
    return { generation: value.generation, numbers: value.numbers.filter((n) => Number.isInteger(n)) };
  } catch {
    return undefined;
  }
}

/** What the runner tells a group's assigner about itself, and what it wants to hear after each join. */
export interface AssignerMembership {
  /** The partition numbers this member owns now and the generation it got them in (sent when joining). */
  owned(): OwnedNumbers;
}

/** The protocol name members of a Baton stage group agree on. */
export const coPartitionedProtocol = "BatonCoPartitioned";

/**
 * The kafkajs assigner built on {@link coPartitionedAssignment}: each member sends the numbers it owns in its join
 * metadata, and the leader keeps them where they were.
 */
export function coPartitionedAssigner(membership: AssignerMembership): PartitionAssigner {
  return ({ cluster }) => ({
    name: coPartitionedProtocol,
    version: 1,
    assign({ members, topics }) {
      const partitionsByTopic = new Map(
        topics.map((topic) => [topic, cluster.findTopicPartitionMetadata(topic).map((meta) => meta.partitionId)]),
      );
      const previous = new Map<string, OwnedNumbers>();
      for (const member of members) {
        const metadata = AssignerProtocol.MemberMetadata.decode(member.memberMetadata);
        const owned = decodeOwned(metadata?.userData);
        if (owned !== undefined) previous.set(member.memberId, owned);
      }
      const assignment = coPartitionedAssignment(
        members.map((member) => member.memberId),
        partitionsByTopic,
        previous,
      );
      return Promise.resolve(
        [...assignment].map(([memberId, memberAssignment]) => ({
          memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 1,
            assignment: memberAssignment,
            userData: Buffer.alloc(0),
          }),
        })),
      );
    },
    protocol({ topics }) {
      return {
        name: coPartitionedProtocol,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: encodeOwned(membership.owned()),
        }),
      };
    },
  });
}
