import { InvalidArgumentError } from "commander";

/** Where a rewind moves a group: every input partition's start or end, the first message at a time, or an offset. */
export type RewindTarget =
  { kind: "earliest" } | { kind: "latest" } | { kind: "time"; at: number } | { kind: "offset"; offset: bigint };

/** Parses `--to`: `earliest`, `latest`, an ISO time (`2026-11-29T10:00:00Z`), or an offset (`offset:42` or `42`). */
export function parseRewindTarget(text: string): RewindTarget {
  if (text === "earliest" || text === "latest") return { kind: text };
  const offset = /^(?:offset[:=])?(\d+)$/.exec(text)?.[1];
  if (offset !== undefined) return { kind: "offset", offset: BigInt(offset) };
  const at = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at))
    throw new InvalidArgumentError(
      `expected earliest, latest, an ISO time (2026-11-29T10:00:00Z) or an offset (offset:42), got "${text}"`,
    );
  return { kind: "time", at };
}

/** One input partition of a group as it stands. */
export interface PartitionStanding {
  topic: string;
  partition: number;
  /** The earliest offset still on the broker. */
  low: bigint;
  /** The read-committed end. */
  end: bigint;
  /** The group's committed offset; null when it has none. */
  committed: bigint | null;
  /** For a rewind to a time: the first offset at or after it (the end when none is). */
  atTime?: bigint;
}

/** What a rewind does to one partition. */
export interface PartitionMove {
  topic: string;
  partition: number;
  current: bigint | null;
  next: bigint;
  /** Offsets between the new position and the committed one that will be read again (markers included). */
  readAgain: bigint;
  /** Offsets the group will skip, for a move forward. */
  skipped: bigint;
}

/** Where a rewind moves each partition, kept within what the broker still holds. */
export function planRewind(standings: readonly PartitionStanding[], target: RewindTarget): PartitionMove[] {
  return standings.map((standing) => {
    const wanted =
      target.kind === "earliest"
        ? standing.low
        : target.kind === "latest"
          ? standing.end
          : target.kind === "offset"
            ? target.offset
            : (standing.atTime ?? standing.end);
    const current = standing.committed;
    const within = wanted < standing.low ? standing.low : wanted > standing.end ? standing.end : wanted;
    // A rewind to a time or the start never moves forward: what the group has not read yet is not skipped.
    const backOnly = target.kind === "time" || target.kind === "earliest";
    const next = backOnly && current !== null && within > current ? current : within;
    return {
      topic: standing.topic,
      partition: standing.partition,
      current,
      next,
      readAgain: current !== null && next < current ? current - next : 0n,
      skipped: current !== null && next > current ? next - current : 0n,
    };
  });
}

/** Whether a move changes where the group reads (a partition it never read, left empty, does not move). */
export function moves(move: PartitionMove): boolean {
  return move.current === null ? move.next > 0n : move.current !== move.next;
}

/** A rewind's plan for people: one line per partition that moves, then the totals. */
export function formatRewind(groupId: string, plan: readonly PartitionMove[], dryRun: boolean): string[] {
  const changing = plan.filter(moves);
  const lines: string[] = [];
  if (changing.length > 0) {
    const width = Math.max(5, ...changing.map((move) => move.topic.length + String(move.partition).length + 1));
    lines.push(`${"input".padEnd(width)}  ${"current".padStart(9)}  ${"new".padStart(9)}  read again`);
    for (const move of changing) {
      const what = move.skipped > 0n ? `skips ${move.skipped}` : String(move.readAgain);
      lines.push(
        `${`${move.topic}/${move.partition}`.padEnd(width)}  ${(move.current?.toString() ?? "none").padStart(9)}  ${move.next.toString().padStart(9)}  ${what}`,
      );
    }
  }
  const again = changing.reduce((sum, move) => sum + move.readAgain, 0n);
  const unchanged = plan.length - changing.length;
  lines.push(
    `${dryRun ? "would move" : "moved"} ${groupId} on ${changing.length} of ${plan.length} partitions` +
      `${unchanged > 0 ? ` (${unchanged} unchanged)` : ""}: ${again} offsets read again` +
      " (messages, and the transaction markers between them)",
  );
  if (dryRun) lines.push("dry run: nothing changed");
  return lines;
}
