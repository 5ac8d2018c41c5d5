/**
 * Bookkeeping of the messages of one partition handled concurrently (tool calls): which are running, which
 * are done and waiting to be published, and the offset it is safe to commit, which never passes the oldest
 * message still running. Knows nothing of Kafka; the stage runner drives it.
 */
export class PartitionWindow<Result> {
  readonly topic: string;
  readonly partition: number;
  /** Set once the window's uncommitted work has been given up; late results are then dropped. */
  abandoned = false;
  /** Whether the runner paused the partition because the window was full. */
  pausedWhenFull = false;
  /** A publish of done results is under way (one at a time per window). */
  flushing = false;
  private readonly bound: number;
  private readonly entries = new Map<bigint, { state: "running" | "done" | "published"; result?: Result }>();
  private committed: bigint | undefined;

  constructor(topic: string, partition: number, bound: number) {
    this.topic = topic;
    this.partition = partition;
    this.bound = bound;
  }

  /** Whether a message is already here (running, done or published but not yet below the commit). */
  has(offset: string): boolean {
    return this.entries.has(BigInt(offset));
  }

  /** Messages running or done but not yet published. */
  get unfinished(): number {
    let count = 0;
    for (const entry of this.entries.values()) if (entry.state !== "published") count += 1;
    return count;
  }

  /** No more messages may start until some are published. */
  get full(): boolean {
    return this.unfinished >= this.bound;
  }

  /** Nothing running or waiting to be published. */
  get idle(): boolean {
    return this.unfinished === 0;
  }

  /** Where consumption must restart to redo everything not committed (the first offset when none is). */
  get restartOffset(): string | undefined {
    return this.committed?.toString();
  }

  /** A message starts; the first one of a window marks where its uncommitted work begins. */
  start(offset: string): void {
    const position = BigInt(offset);
    this.committed ??= position;
    this.entries.set(position, { state: "running" });
  }

  /** A message is done; false if the window no longer knows it (abandoned). */
  finish(offset: string, result: Result): boolean {
    const entry = this.entries.get(BigInt(offset));
    if (this.abandoned || entry?.state !== "running") return false;
    entry.state = "done";
    entry.result = result;
    return true;
  }

  /**
   * Takes every done result, in offset order, with the offset to commit alongside them: the oldest message
   * still running, or past the newest one when none runs. Undefined when the commit would not move.
   */
  takeReady(): { results: Result[]; commitOffset: string | undefined } {
    const results: Result[] = [];
    const ordered = [...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [, entry] of ordered) {
      if (entry.state !== "done") continue;
      entry.state = "published";
      if (entry.result !== undefined) results.push(entry.result);
      delete entry.result;
    }
    const running = ordered.find(([, entry]) => entry.state === "running");
    const last = ordered.at(-1);
    const position = running !== undefined ? running[0] : last !== undefined ? last[0] + 1n : undefined;
    if (position === undefined || (this.committed !== undefined && position <= this.committed))
      return { results, commitOffset: undefined };
    this.committed = position;
    for (const [offset] of ordered) if (offset < position) this.entries.delete(offset);
    return { results, commitOffset: position.toString() };
  }
}
