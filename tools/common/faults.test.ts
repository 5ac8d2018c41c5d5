import { describe, expect, it } from "vitest";
import { ConfigurationError, parseEnvironment } from "./environment.ts";
import { createFaultInjector, faultsSetting, noFaults } from "./faults.ts";
import { createToolLogger } from "./logger.ts";
import { toolResult } from "./tool-result.ts";
import { z } from "zod";

const schema = z.object({ BATON_TOOLS_FAULTS: faultsSetting });
const logger = createToolLogger("test", "silent");
const succeed = () => Promise.resolve(toolResult("ok", {}));

describe("faultsSetting", () => {
  it("means no faults when unset or empty", () => {
    expect(parseEnvironment(schema, {}).BATON_TOOLS_FAULTS).toEqual(noFaults);
    expect(parseEnvironment(schema, { BATON_TOOLS_FAULTS: "" }).BATON_TOOLS_FAULTS).toEqual(noFaults);
  });

  it("reads delay, error, crash, slow, slowms and seed", () => {
    const { BATON_TOOLS_FAULTS } = parseEnvironment(schema, {
      BATON_TOOLS_FAULTS: "delay=200, error=0.1,crash=0.01,slow=0.2,slowms=3000,slowfirst=2,seed=42",
    });
    expect(BATON_TOOLS_FAULTS).toEqual({
      delayMs: 200,
      errorRate: 0.1,
      crashRate: 0.01,
      slowRate: 0.2,
      slowMs: 3000,
      slowFirst: 2,
      seed: 42,
    });
  });

  it("a slow call waits slowms longer before answering", async () => {
    const { BATON_TOOLS_FAULTS } = parseEnvironment(schema, { BATON_TOOLS_FAULTS: "slow=1,slowms=150,seed=1" });
    const injector = createFaultInjector(BATON_TOOLS_FAULTS, logger);
    const started = Date.now();
    await injector.around("search", succeed);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("the first slowfirst calls are slow, the later ones are not", async () => {
    const { BATON_TOOLS_FAULTS } = parseEnvironment(schema, { BATON_TOOLS_FAULTS: "slowfirst=1,slowms=300" });
    const injector = createFaultInjector(BATON_TOOLS_FAULTS, logger);
    const timed = async (): Promise<number> => {
      const started = Date.now();
      await injector.around("search", succeed);
      return Date.now() - started;
    };
    expect(await timed()).toBeGreaterThanOrEqual(290);
    expect(await timed()).toBeLessThan(290);
  });

  it("names every bad pair under BATON_TOOLS_FAULTS", () => {
    const parse = () => parseEnvironment(schema, { BATON_TOOLS_FAULTS: "error=1.5,boom=1,delay=-1" });
    expect(parse).toThrow(ConfigurationError);
    expect(parse).toThrow(/BATON_TOOLS_FAULTS: "error=1.5"[\s\S]*"boom=1"[\s\S]*"delay=-1"/);
  });
});

describe("createFaultInjector", () => {
  it("the same seed fails the same calls", async () => {
    const run = async () => {
      const injector = createFaultInjector({ ...noFaults, errorRate: 0.5, seed: 7 }, logger);
      const results = await Promise.all(Array.from({ length: 20 }, () => injector.around("tool", succeed)));
      return results.map((result) => result.isError === true);
    };
    const first = await run();
    expect(await run()).toEqual(first);
    expect(first).toContain(true);
    expect(first).toContain(false);
  });

  it("crashes before the call runs", async () => {
    const exits: number[] = [];
    let ran = false;
    const injector = createFaultInjector({ ...noFaults, crashRate: 1 }, logger, (code) => {
      exits.push(code);
      throw new Error("exited");
    });
    await expect(
      injector.around("tool", () => {
        ran = true;
        return succeed();
      }),
    ).rejects.toThrow("exited");
    expect(exits).toEqual([1]);
    expect(ran).toBe(false);
  });
});
