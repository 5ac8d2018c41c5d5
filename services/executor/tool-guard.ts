import {
  BrokenCircuitError,
  bulkhead,
  CircuitState,
  circuitBreaker,
  ConsecutiveBreaker,
  handleWhen,
  type IPolicy,
} from "cockatiel";
import { RateLimiterMemory, RateLimiterQueue } from "rate-limiter-flexible";
import type { ToolCallOutcome } from "./mcp-connections.ts";
import type { ServerLimits, ToolSettings } from "./servers-file.ts";

/** Thrown by {@link ToolGuard.run} when a tool's breaker is open: the call was not made. */
export class CircuitOpenError extends Error {
  readonly tool: string;
  constructor(tool: string) {
    super(`the circuit breaker of ${tool} is open after repeated failures`);
    this.name = "CircuitOpenError";
    this.tool = tool;
  }
}

class TransientOutcome extends Error {
  readonly outcome: ToolCallOutcome;
  constructor(outcome: ToolCallOutcome) {
    super("transient tool failure");
    this.outcome = outcome;
  }
}

/** Whether an outcome may pass on another try: a timeout or a transport failure, not the tool's own error. */
export function isTransient(outcome: ToolCallOutcome): boolean {
  return outcome.status === "TIMED_OUT" || (outcome.status === "FAILED" && outcome.transient);
}

interface Guards {
  breaker: ReturnType<typeof circuitBreaker> | undefined;
  limit: IPolicy | undefined;
  rate: RateLimiterQueue | undefined;
}

/**
 * A concurrency limit (cockatiel bulkhead; more calls wait their turn) and a rate limit (a token queue), scaled to
 * this executor's share of the cluster's limit. Rounded down, so the executors together stay within the limit; a
 * share below one call still allows one (the cluster then exceeds a concurrency smaller than its executors).
 */
export function limitsOf(
  settings: { concurrency?: number | undefined; ratePerSecond?: number | undefined },
  share = 1,
): {
  limit: IPolicy | undefined;
  rate: RateLimiterQueue | undefined;
} {
  return {
    limit:
      settings.concurrency === undefined
        ? undefined
        : bulkhead(Math.max(1, Math.floor(settings.concurrency * share + 1e-9)), Number.MAX_SAFE_INTEGER),
    rate: settings.ratePerSecond === undefined ? undefined : rateQueue(settings.ratePerSecond * share),
  };
}

/** A token queue for a rate that may be below one a second: one token every few seconds, never above the rate. */
function rateQueue(perSecond: number): RateLimiterQueue {
  const duration = Math.max(1, Math.ceil(1 / perSecond - 1e-9));
  const points = Math.max(1, Math.floor(perSecond * duration + 1e-9));
  return new RateLimiterQueue(new RateLimiterMemory({ points, duration }), { maxQueueSize: 100_000 });
}

/**
 * Per-tool and per-server resource coordination from the servers file: concurrency limits (cockatiel
 * bulkheads), rate limits (rate-limiter-flexible queues), each per tool and shared by a server's tools, and
 * a circuit breaker per tool (cockatiel) that opens on consecutive transient failures. Tools without
 * settings run unguarded.
 */
export class ToolGuard {
  private readonly guards = new Map<string, Guards>();
  private readonly servers = new Map<string, Omit<Guards, "breaker">>();
  private readonly settingsOf: (tool: string) => ToolSettings;
  private readonly serverLimitsOf: (tool: string) => ServerLimits;
  private fraction = 1;

  constructor(settingsOf: (tool: string) => ToolSettings, serverLimitsOf: (tool: string) => ServerLimits = () => ({})) {
    this.settingsOf = settingsOf;
    this.serverLimitsOf = serverLimitsOf;
  }

  private guardsOf(tool: string): Guards {
    let guards = this.guards.get(tool);
    if (guards === undefined) {
      const settings = this.settingsOf(tool);
      guards = {
        breaker:
          settings.breaker === undefined
            ? undefined
            : circuitBreaker(
                handleWhen((error) => error instanceof TransientOutcome),
                {
                  halfOpenAfter: settings.breaker.halfOpenAfterMs,
                  breaker: new ConsecutiveBreaker(settings.breaker.failures),
                },
              ),
        ...limitsOf(settings, this.fraction),
      };
      this.guards.set(tool, guards);
    }
    return guards;
  }

  private serverGuardsOf(tool: string): Omit<Guards, "breaker"> {
    const server = tool.slice(0, tool.indexOf("/"));
    let guards = this.servers.get(server);
    if (guards === undefined) {
      guards = limitsOf(this.serverLimitsOf(tool), this.fraction);
      this.servers.set(server, guards);
    }
    return guards;
  }

  /**
   * Sets this executor's share of every limit: the partitions it owns out of all (re-split at each rebalance), so
   * the executors of a cluster together keep each tool's and server's configured concurrency and rate. Calls
   * already waiting keep the limits they started under.
   */
  share(owned: number, total: number): void {
    const fraction = total <= 0 ? 1 : Math.min(1, Math.max(0, owned / total));
    if (fraction === this.fraction) return;
    this.fraction = fraction;
    for (const [tool, guards] of this.guards) Object.assign(guards, limitsOf(this.settingsOf(tool), fraction));
    this.servers.clear();
  }

  /** Runs one call of a tool within its and its server's limits; throws {@link CircuitOpenError} when its breaker is open. */
  async run(tool: string, call: () => Promise<ToolCallOutcome>): Promise<ToolCallOutcome> {
    const { breaker, limit, rate } = this.guardsOf(tool);
    const server = this.serverGuardsOf(tool);
    const limited = async (): Promise<ToolCallOutcome> => {
      if (rate !== undefined) await rate.removeTokens(1);
      if (server.rate !== undefined) await server.rate.removeTokens(1);
      const withinTool = (): Promise<ToolCallOutcome> => (limit === undefined ? call() : limit.execute(call));
      return server.limit === undefined ? withinTool() : server.limit.execute(withinTool);
    };
    if (breaker === undefined) return limited();
    try {
      return await breaker.execute(async () => {
        const outcome = await limited();
        if (isTransient(outcome)) throw new TransientOutcome(outcome);
        return outcome;
      });
    } catch (error) {
      if (error instanceof TransientOutcome) return error.outcome;
      if (error instanceof BrokenCircuitError) throw new CircuitOpenError(tool);
      throw error;
    }
  }

  /** The breaker state of every guarded tool, for metrics and `baton top`. */
  breakerStates(): Map<string, "closed" | "open" | "half-open"> {
    const states = new Map<string, "closed" | "open" | "half-open">();
    for (const [tool, { breaker }] of this.guards) {
      if (breaker === undefined) continue;
      const state = breaker.state;
      states.set(
        tool,
        state === CircuitState.Closed ? "closed" : state === CircuitState.HalfOpen ? "half-open" : "open",
      );
    }
    return states;
  }
}
