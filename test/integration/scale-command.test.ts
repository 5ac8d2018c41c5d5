import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { maxInstances } from "../../cli/stack/stage-instances.ts";

const run = promisify(execFile);

async function baton(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["cli/main.ts", ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("baton scale misuse", () => {
  it("exits 2 and says what to do for an unknown stage, a count that is not whole, or one out of range", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["scheduler", "2"], /expected one of planner, policy, executor, summarizer, gateway, got "scheduler"/],
      [["executor", "1.5"], new RegExp(`expected a whole number from 0 to ${maxInstances}`)],
      [["executor", String(maxInstances + 1)], new RegExp(`expected a whole number from 0 to ${maxInstances}`)],
      [["executor"], /missing required argument 'n'/],
    ];
    for (const [args, message] of cases) {
      const result = await baton("scale", ...args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toContain("run baton scale --help for usage");
      expect(result.stdout).toBe("");
    }
  });

  it("has --help with an example", async () => {
    const result = await baton("scale", "--help");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("$ baton scale executor 3");
  });
});
