import type { Cron } from "croner";
import type { Logger } from "../../../shared/telemetry/logger.ts";

/** How many missed instants a cron trigger fires late, and how late at most. */
export interface CatchUp {
  last: number;
  withinMs: number;
}

/** Timers wait at most this long at once (Node's timers overflow past 24.8 days); then the wait is checked again. */
const longestWaitMs = 3_600_000;

/**
 * The missed instants to fire late, oldest first: at most `catchUp.last` of those after `after` (exclusive; all of the
 * past when undefined) and no later than `now`, none older than `catchUp.withinMs`.
 */
export function missedInstants(schedule: Cron, now: Date, catchUp: CatchUp, after?: Date): Date[] {
  if (catchUp.last === 0) return [];
  const oldest = now.getTime() - catchUp.withinMs;
  return schedule
    .previousRuns(catchUp.last, now)
    .filter((instant) => instant.getTime() >= oldest && (after === undefined || instant > after))
    .reverse();
}

/** Options for {@link CronTimer}. */
export interface CronTimerOptions {
  schedule: Cron;
  catchUp: CatchUp;
  /** Submits the fire of one scheduled instant; resolves when it is written. */
  fire(scheduledAt: Date): Promise<void>;
  logger: Logger;
  now?: () => number;
}

/**
 * Fires a cron schedule's instants one after the other: at start the missed instants its catch-up allows, then each
 * instant when it comes. Instants that pass while a fire is being written (Kafka slow or down) are caught up by the
 * same rule; older ones are skipped with a warning.
 */
export class CronTimer {
  private readonly options: CronTimerOptions;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private firing: Promise<void> = Promise.resolve();

  constructor(options: CronTimerOptions) {
    this.options = options;
  }

  private now(): Date {
    return new Date((this.options.now ?? Date.now)());
  }

  /** Fires what catch-up allows, then waits for the next instant. */
  start(): void {
    this.firing = this.fireMissed(undefined);
  }

  private async fireMissed(after: Date | undefined): Promise<void> {
    const now = this.now();
    const missed = missedInstants(this.options.schedule, now, this.options.catchUp, after);
    if (after !== undefined) {
      const first = this.options.schedule.nextRun(after);
      if (first !== null && first <= now && (missed[0] === undefined || first < missed[0]))
        this.options.logger.warn(
          { from: first.toISOString(), until: (missed[0] ?? now).toISOString() },
          "cron instants missed while firing were skipped (catchUp allows no more)",
        );
    }
    for (const instant of missed) {
      if (this.stopped) return;
      await this.fireOne(instant);
    }
    this.arm(this.options.schedule.nextRun(missed.at(-1) ?? now));
  }

  private async fireOne(instant: Date): Promise<void> {
    try {
      await this.options.fire(instant);
    } catch (error) {
      this.options.logger.error({ err: error, scheduledAt: instant.toISOString() }, "cron fire failed");
    }
  }

  private arm(next: Date | null): void {
    if (this.stopped || next === null) return;
    const wait = next.getTime() - this.now().getTime();
    if (wait > 0) {
      this.timer = setTimeout(() => this.arm(next), Math.min(wait, longestWaitMs));
      return;
    }
    this.firing = this.fireOne(next).then(() => this.fireMissed(next));
  }

  /** Stops firing; resolves once a fire being written is written. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.firing;
  }
}
