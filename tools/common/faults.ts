import { randomInt } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "./logger.ts";
import { toolError } from "./tool-result.ts";

/** Faults injected into every tool call for chaos tests; {@link noFaults} unless BATON_TOOLS_FAULTS says otherwise. */
export interface Faults {
  /** Milliseconds every call waits before anything else. */
  delayMs: number;
  /** Probability in [0, 1] that a call returns a tool error instead of running. */
  errorRate: number;
  /** Probability in [0, 1] that a call exits the process with status 1 before any side effect. */
  crashRate: number;
  /** Probability in [0, 1] that a call waits `slowMs` more (to make callers time out). */
  slowRate: number;
  /** Milliseconds a slow call waits. */
  slowMs: number;
  /** How many of the server's first calls are slow for sure (a deterministic timeout, then answers). */
  slowFirst: number;
  /** Seed of the random draws, so a run can be repeated; random when absent. */
  seed: number | undefined;
}

/** No delay, no errors, no crashes. */
export const noFaults: Faults = {
  delayMs: 0,
  errorRate: 0,
  crashRate: 0,
  slowRate: 0,
  slowMs: 2_000,
  slowFirst: 0,
  seed: undefined,
};

const faultValues = {
  delay: z.coerce.number().int().min(0).max(600_000),
  error: z.coerce.number().min(0).max(1),
  crash: z.coerce.number().min(0).max(1),
  slow: z.coerce.number().min(0).max(1),
  slowms: z.coerce.number().int().min(0).max(600_000),
  slowfirst: z.coerce.number().int().min(0).max(1_000_000),
  seed: z.coerce
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1),
} as const;

type FaultKey = keyof typeof faultValues;

function isFaultKey(key: string): key is FaultKey {
  return Object.hasOwn(faultValues, key);
}

/**
 * The BATON_TOOLS_FAULTS setting: comma-separated `key=value` pairs from `delay` (ms), `error`, `crash` and
 * `slow` (probabilities), `slowms` (how long a slow call waits), `slowfirst` (that many first calls are slow)
 * and `seed`, e.g.
 * `delay=200,error=0.1,crash=0.01,slow=0.05,slowms=3000,seed=42`. Unset or empty means no faults.
 */
export const faultsSetting = z
  .string()
  .optional()
  .transform((text, context): Faults => {
    const faults = { ...noFaults };
    for (const pair of (text ?? "")
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part !== "")) {
      const [key = "", value = "", ...rest] = pair.split("=").map((part) => part.trim());
      if (!isFaultKey(key) || rest.length > 0) {
        context.addIssue({
          code: "custom",
          message: `"${pair}" is not one of delay=<ms>, error=<0..1>, crash=<0..1>, slow=<0..1>, slowms=<ms>, slowfirst=<n>, seed=<int>`,
        });
        continue;
      }
      const parsed = faultValues[key].safeParse(value === "" ? undefined : value);
      if (!parsed.success) {
        context.addIssue({
          code: "custom",
          message: `"${pair}": ${parsed.error.issues[0]?.message ?? "invalid value"}`,
        });
        continue;
      }
      if (key === "delay") faults.delayMs = parsed.data;
      else if (key === "error") faults.errorRate = parsed.data;
      else if (key === "crash") faults.crashRate = parsed.data;
      else if (key === "slow") faults.slowRate = parsed.data;
      else if (key === "slowms") faults.slowMs = parsed.data;
      else if (key === "slowfirst") faults.slowFirst = parsed.data;
      else faults.seed = parsed.data;
    }
    return faults;
  });

/** Applies {@link Faults} around a tool call. */
export interface FaultInjector {
  /** Waits, then maybe exits the process, then maybe returns a tool error; otherwise returns what `call` returns. */
  around(tool: string, call: () => CallToolResult | Promise<CallToolResult>): Promise<CallToolResult>;
}

/** Mulberry32: a small seeded generator of numbers in [0, 1), enough for repeatable fault draws. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Builds the injector for one server process; `exit` is replaceable so the crash path can be tested. */
export function createFaultInjector(
  faults: Faults,
  logger: Logger,
  exit: (code: number) => void = (code) => process.exit(code),
): FaultInjector {
  const random = seededRandom(faults.seed ?? randomInt(2 ** 32 - 1));
  let calls = 0;
  return {
    async around(tool, call) {
      calls += 1;
      if (faults.delayMs > 0) await sleep(faults.delayMs);
      if (calls <= faults.slowFirst || (faults.slowRate > 0 && random() < faults.slowRate)) {
        logger.warn({ tool, fault: "slow" }, "injected fault: answering late");
        await sleep(faults.slowMs);
      }
      if (faults.crashRate > 0 && random() < faults.crashRate) {
        logger.fatal({ tool, fault: "crash" }, "injected fault: exiting");
        exit(1);
      }
      if (faults.errorRate > 0 && random() < faults.errorRate) {
        logger.warn({ tool, fault: "error" }, "injected fault: failing the call");
        return toolError(`${tool} failed: injected fault (BATON_TOOLS_FAULTS)`);
      }
      return call();
    },
  };
}
