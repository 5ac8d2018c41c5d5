// Where a partitioned KeyedTable stands in each partition it reads: which partitions it owns, which are being read
// from their beginning up to the end they had when taken on, and which batches may move a position (a batch fetched
// before a partition was taken on again must not). Knows nothing of Kafka's client; the table drives it.
/** The last load of a partition a partitioned table took on. */
export interface PartitionLoad {
  /** Keys held for the partition once it was read to its end. */
  entries: number;
  /** From taking the partition on to having read it to the end it had then. */
  catchUpMs: number;
}

/** A load that has just reached its end; see {@link PartitionReads.finishLoads}. */
export interface FinishedLoad {
  partition: number;
  catchUpMs: number;
}

/** A batch's numbers, as kafkajs reports them when it has handled the batch. */
export interface BatchEnd {
  /** Messages handed to `eachMessage` (transaction markers and aborted messages are not). */
  batchSize: number;
  /** The first record's offset, counting markers and aborted messages; null when none is past the fetch offset. */
  firstOffset: string | null;
  lastOffset: string | null;
}

interface PartitionState {
  /** Tells this ownership of the partition from earlier ones, whose late events are ignored. */
  epoch: number;
  ownedAt: number;
  /** Whether the consumer was told where to read from and the partition resumed. */
  reading: boolean;
  /** The next offset to read: everything before it has been read during this ownership. */
  position: bigint;
  /**
   * Fetchers that must start a fetch before a batch of this partition can no longer be one fetched before the
   * last seek; undefined when none can.
   */
  staleUntil: Set<number> | undefined;
  /** The end offset the partition had when taken on. */
  loadEnd: bigint | undefined;
  loaded: boolean;
  batch: { epoch: number; delivered: number } | undefined;
}

/**
 * How far a table's consumer has read each partition it owns, fed with the consumer's events; no Kafka client
 * here. It decides which events move a partition's position: after a partition is given up and taken on again,
 * kafkajs may still hand over batches fetched before the seek back to its start. Such a batch delivers no message
 * (kafkajs skips a partition with a seek pending) but still reports its last offset, so a batch's end counts only
 * when all its messages were read during this ownership, and a batch of transaction markers only once every
 * fetcher has started a fetch since the seek (or when it starts where the reading stands).
 */
export class PartitionReads {
  private readonly followAll: boolean;
  private readonly partitions = new Map<number, PartitionState>();
  private readonly fetchers = new Set<number>();
  private readonly everRead = new Set<number>();
  private epochs = 0;

  /** `followAll`: every partition is owned and read from the start, as by a table that is not partitioned. */
  constructor(options: { followAll: boolean }) {
    this.followAll = options.followAll;
  }

  private state(partition: number): PartitionState | undefined {
    let state = this.partitions.get(partition);
    if (state === undefined && this.followAll) {
      state = {
        epoch: 0,
        ownedAt: 0,
        reading: true,
        position: 0n,
        staleUntil: undefined,
        loadEnd: undefined,
        loaded: true,
        batch: undefined,
      };
      this.partitions.set(partition, state);
    }
    return state;
  }

  /** Takes a partition on (not read until {@link startReading}); false if it was owned already. */
  own(partition: number, now: number): boolean {
    if (this.partitions.has(partition)) return false;
    this.epochs += 1;
    this.partitions.set(partition, {
      epoch: this.epochs,
      ownedAt: now,
      reading: false,
      position: 0n,
      staleUntil: undefined,
      loadEnd: undefined,
      loaded: false,
      batch: undefined,
    });
    return true;
  }

  /** Gives a partition up: its later events are ignored. */
  drop(partition: number): void {
    this.partitions.delete(partition);
  }

  isOwned(partition: number): boolean {
    return this.partitions.has(partition);
  }

  /** The partitions owned, in order. */
  owned(): number[] {
    return [...this.partitions.keys()].sort((a, b) => a - b);
  }

  /** Owned partitions not being read yet, which wait for their offsets, with their ownership. */
  awaitingStart(): Array<{ partition: number; epoch: number }> {
    return this.owned().flatMap((partition) => {
      const state = this.partitions.get(partition);
      return state?.reading === false ? [{ partition, epoch: state.epoch }] : [];
    });
  }

  /** Partitions being read, with where the reading stands. */
  readingPositions(): Array<{ partition: number; offset: bigint }> {
    return this.owned().flatMap((partition) => {
      const state = this.partitions.get(partition);
      return state?.reading === true ? [{ partition, offset: state.position }] : [];
    });
  }

  /**
   * Starts reading an owned partition from `from` (where the consumer is told to seek), loaded once read to `end`;
   * false if that ownership (`epoch`, from {@link awaitingStart}) has ended or is read already.
   */
  startReading(partition: number, epoch: number, from: bigint, end: bigint): boolean {
    const state = this.partitions.get(partition);
    if (state?.epoch !== epoch || state.reading) return false;
    state.reading = true;
    state.position = from;
    state.loadEnd = end;
    state.staleUntil = this.everRead.has(partition) && this.fetchers.size > 0 ? new Set(this.fetchers) : undefined;
    this.everRead.add(partition);
    return true;
  }

  /** The ownership a message of this partition would be read for, or undefined when it is not to be read. */
  readingEpoch(partition: number): number | undefined {
    const state = this.state(partition);
    return state?.reading === true ? state.epoch : undefined;
  }

  /** Records a message read (decoded or not); false when its partition was given up or taken on again since. */
  messageRead(partition: number, epoch: number, offset: string): boolean {
    const state = this.partitions.get(partition);
    if (state?.reading !== true || state.epoch !== epoch) return false;
    const next = BigInt(offset) + 1n;
    if (next > state.position) state.position = next;
    // kafkajs hands no message of a partition over while its seek is pending, so this batch came after it.
    state.staleUntil = undefined;
    if (state.batch?.epoch === epoch) state.batch.delivered += 1;
    return true;
  }

  /** A fetcher (one per broker) starts a fetch: batches it fetched before have all been handled. */
  fetchStarted(nodeId: number): void {
    this.fetchers.add(nodeId);
    for (const state of this.partitions.values()) {
      state.staleUntil?.delete(nodeId);
      if (state.staleUntil?.size === 0) state.staleUntil = undefined;
    }
  }

  batchStarted(partition: number): void {
    const state = this.state(partition);
    if (state !== undefined) state.batch = { epoch: state.epoch, delivered: 0 };
  }

  /**
   * A batch was handled. Its last offset counts transaction markers, which are never delivered as messages: it is
   * how a position reaches the end of a topic written in transactions.
   */
  batchEnded(partition: number, batch: BatchEnd): void {
    const state = this.state(partition);
    if (state === undefined) return;
    const started = state.batch;
    state.batch = undefined;
    if (!state.reading || started?.epoch !== state.epoch || batch.lastOffset === null) return;
    const counts =
      batch.batchSize > 0
        ? started.delivered === batch.batchSize
        : state.staleUntil === undefined || (batch.firstOffset !== null && BigInt(batch.firstOffset) <= state.position);
    const next = BigInt(batch.lastOffset) + 1n;
    if (counts && next > state.position) state.position = next;
  }

  /**
   * The group was joined again, or by a new consumer (kafkajs stopped the fetchers first, so no batch from before is
   * left): where each partition being read should be sought, as a join resets kafkajs's positions.
   */
  rejoined(): Array<{ partition: number; offset: bigint }> {
    for (const state of this.partitions.values()) {
      state.batch = undefined;
      state.staleUntil = undefined;
    }
    return this.readingPositions();
  }

  /** The next offset to read, for a partition being read. */
  position(partition: number): bigint | undefined {
    const state = this.partitions.get(partition);
    return state?.reading === true ? state.position : undefined;
  }

  isLoaded(partition: number): boolean {
    return this.followAll || this.partitions.get(partition)?.loaded === true;
  }

  /** Loads that have reached their end since last asked, each reported once. */
  finishLoads(now: number): FinishedLoad[] {
    const finished: FinishedLoad[] = [];
    for (const [partition, state] of this.partitions) {
      if (state.loaded || !state.reading || state.loadEnd === undefined || state.position < state.loadEnd) continue;
      state.loaded = true;
      finished.push({ partition, catchUpMs: now - state.ownedAt });
    }
    return finished;
  }
}
