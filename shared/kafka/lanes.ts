import type { Logger } from "../telemetry/logger.ts";
import type { OwnedNumbers } from "./co-partitioned-assigner.ts";
import type { BatonProducer } from "./producer.ts";

/** A partition number's turn to process and publish, with its transactional producer in transactional stages. */
export interface Lane {
  readonly number: number;
  readonly producer: BatonProducer | undefined;
}

/** Thrown to work on a lane this member no longer owns, or whose producer broke: the work is given up uncommitted. */
export class LaneLostError extends Error {
  readonly number: number;
  constructor(number: number, why: string) {
    super(`partition ${number} ${why}; its uncommitted work is given up and redelivered`);
    this.name = "LaneLostError";
    this.number = number;
  }
}

interface LaneState extends Lane {
  open: boolean;
  /** Resolves when the work holding the lane is done (a queue of one at a time). */
  tail: Promise<void>;
}

/** Options for {@link Lanes}. */
export interface LanesOptions {
  /** `<groupId>-p<n>`: partition n's transactional id. */
  groupId: string;
  /** Connects (and so initialises) a transactional producer; absent for stages without transactions. */
  transactionalProducer?: ((transactionalId: string) => Promise<BatonProducer>) | undefined;
  logger: Logger;
  stage: string;
}

/** What a change of assignment did to the lanes. */
export interface LaneChange {
  /** Numbers with a new lane: newly assigned, or reopened (a new member id, a producer replaced). */
  added: number[];
  /** Numbers given up. */
  removed: number[];
}

/**
 * One lane per input partition number this member owns: co-partitioned messages of one number (a request, its
 * results, its deadline) are handled one chunk at a time, and committed with the number's own transactional
 * producer. Ownership follows the group's assignment and nothing else: a lane and its producer are made when
 * the number is assigned (initialising the producer fences the previous owner and ends its open transaction),
 * closed when it is revoked, and a producer that was fenced or broke is never used again: its lane refuses work
 * until the next assignment makes a new one.
 */
export class Lanes {
  private readonly options: LanesOptions;
  private readonly lanes = new Map<number, LaneState>();
  private memberId: string | undefined;
  private generationId = -1;
  private readonly closing = new Set<Promise<void>>();
  /** Set when a producer broke: the member must join the group again to get a fresh one. */
  private rejoin: string | undefined;

  constructor(options: LanesOptions) {
    this.options = options;
  }

  /** The numbers owned now and the generation they were assigned in (what this member claims when it joins). */
  owned(): OwnedNumbers {
    return { generation: this.generationId, numbers: this.numbers };
  }

  /** The numbers owned now, ascending. */
  get numbers(): number[] {
    return [...this.lanes]
      .filter(([, lane]) => lane.open)
      .map(([number]) => number)
      .sort((a, b) => a - b);
  }

  /** Whether work on this number may be published. */
  owns(number: number): boolean {
    return this.lanes.get(number)?.open === true;
  }

  /**
   * Follows a new assignment. Lanes of numbers no longer assigned close (after the work holding them ends, which
   * may not commit any more). New numbers, and every number when this member joined under a new member id (the
   * group may have given them to others meanwhile), get a new lane whose producer is initialised before this
   * resolves, so the caller reads them only after their previous owners are fenced.
   */
  async follow(memberId: string, generationId: number, numbers: readonly number[]): Promise<LaneChange> {
    const fresh = memberId !== this.memberId;
    const wanted = new Set(numbers);
    const before = new Set(this.numbers);
    for (const [number, lane] of this.lanes) {
      if (wanted.has(number) && lane.open && !fresh) continue;
      this.retire(lane);
      this.lanes.delete(number);
    }
    this.rejoin = undefined;
    const opening = [...wanted].filter((number) => !this.lanes.has(number));
    const startedAt = performance.now();
    const opened = await Promise.all(opening.map((number) => this.open(number)));
    for (const lane of opened) this.lanes.set(lane.number, lane);
    this.memberId = memberId;
    this.generationId = generationId;
    if (opening.length > 0 && this.options.transactionalProducer !== undefined)
      this.options.logger.info(
        { stage: this.options.stage, partitions: opening, ms: Math.round(performance.now() - startedAt) },
        "transactional producers initialised for the partitions taken on",
      );
    return {
      added: opening.sort((a, b) => a - b),
      removed: [...before].filter((number) => !wanted.has(number)).sort((a, b) => a - b),
    };
  }

  /**
   * Runs `work` holding a number's lane, one at a time per number. Throws {@link LaneLostError} when the number is
   * not owned (any more), also if it was lost while waiting for its turn.
   */
  async run<Result>(number: number, work: (lane: Lane) => Promise<Result>): Promise<Result> {
    const lane = this.lanes.get(number);
    if (lane?.open !== true) throw new LaneLostError(number, "is not owned by this member");
    const previous = lane.tail;
    let release = (): void => undefined;
    lane.tail = new Promise((resolve) => (release = resolve));
    await previous;
    try {
      if (!lane.open) throw new LaneLostError(number, "was revoked");
      return await work(lane);
    } finally {
      release();
    }
  }

  /**
   * After a failed publish: a producer that can no longer be used (fenced, or stuck after a failed commit) closes
   * its lane, and the member must join again (see {@link takeRejoinReason}) to get a fresh producer, fenced
   * against nobody else's: only an assignment says who owns a number.
   */
  failed(lane: Lane, error: unknown): void {
    if (lane.producer === undefined || lane.producer.usable) return;
    const state = this.lanes.get(lane.number);
    if (state === undefined || state.producer !== lane.producer || !state.open) return;
    this.options.logger.warn(
      { stage: this.options.stage, partition: lane.number, err: error },
      "transactional producer fenced or broken; it is replaced at the next assignment",
    );
    state.open = false;
    this.rejoin ??= `the producer of partition ${lane.number} was fenced or broke`;
  }

  /** Why the member must join the group again, once (undefined when it need not). */
  takeRejoinReason(): string | undefined {
    const reason = this.rejoin;
    this.rejoin = undefined;
    return reason;
  }

  /** Closes every lane and waits for their producers to close. */
  async close(): Promise<void> {
    for (const lane of this.lanes.values()) this.retire(lane);
    this.lanes.clear();
    await Promise.all([...this.closing]);
  }

  private async open(number: number): Promise<LaneState> {
    const create = this.options.transactionalProducer;
    const producer = create === undefined ? undefined : await create(`${this.options.groupId}-p${number}`);
    return { number, producer, open: true, tail: Promise.resolve() };
  }

  /** Stops a lane taking work and closes its producer once the work holding it ends. */
  private retire(lane: LaneState): void {
    lane.open = false;
    const producer = lane.producer;
    if (producer === undefined) return;
    const closed = lane.tail
      .then(() => producer.disconnect())
      .catch((error: unknown) =>
        this.options.logger.debug({ partition: lane.number, err: error }, "closing a lane's producer failed"),
      )
      .finally(() => this.closing.delete(closed));
    this.closing.add(closed);
  }
}
