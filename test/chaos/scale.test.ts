import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import type { StageName } from "../../cli/stage-commands.ts";
import type { RunningStage } from "../e2e/pipeline.ts";
import {
  customerSupportRequest,
  OutcomeWatch,
  sendAtFixedRate,
  sideEffects,
  sleep,
  stageNames,
  startChaosHarness,
  stopNewest,
  type ChaosHarness,
  type StoppedInstance,
} from "./harness.ts";
import {
  instanceName,
  linesSince,
  printDuplicateResponses,
  printFailedExits,
  printProblems,
  printRunStates,
  saveLogs,
} from "./diagnostics.ts";

// Every stage scaled 1 → 3 → 1 → 3 → 1 instances under a steady open-loop load, by graceful starts and SIGTERMs,
// with tools that do not fail: every request is answered once, no side effect happens twice, every stopped
// instance exits 0, and once the group has settled no instance uses a fenced transactional producer.
const perSecond = 8;
const pauseBetweenStepsMs = 5_000;
const settleMs = 10_000;
const lastBatchMs = 6_000;
const deadlineMs = 60_000;
const idPrefix = `scale-${randomUUID().slice(0, 8)}`;

/** What a log line of a stage says when it used a transactional producer another instance had fenced. */
const fencedProducer =
  /old epoch|PRODUCER_FENCED|INVALID_PRODUCER_EPOCH|KafkaJSNumberOfRetriesExceeded|fenced(?!":false)/i;

let harness: ChaosHarness | undefined;

beforeAll(async () => {
  harness = await startChaosHarness({
    service: "baton-scale",
    instancesPerStage: 1,
    serversFile: "test/chaos/mcp-servers-without-faults.yaml",
  });
}, 180_000);

afterAll(async () => {
  await harness?.stop();
}, 60_000);

describe("elastic stages", () => {
  it("scaling every stage 1 → 3 → 1 → 3 → 1 under load answers every request once, and fences no survivor", async () => {
    if (harness === undefined) throw new Error("the pipeline did not start");
    const { pipeline, backbone, producer } = harness;
    const watch = new OutcomeWatch(backbone);
    await watch.start();
    const load = sendAtFixedRate({
      producer,
      perSecond,
      request: (index) => customerSupportRequest(idPrefix, index, deadlineMs),
    });

    const stepTimes: string[] = [];
    const stepErrors: string[] = [];
    const stopped: StoppedInstance[] = [];
    /** Scales every stage at once; after a step that failed, the stages' shape is unknown, so the rest are skipped. */
    const step = async (name: string, change: (stage: StageName) => Promise<unknown>): Promise<void> => {
      if (stepErrors.length > 0) return;
      const started = Date.now();
      const results = await Promise.allSettled(stageNames.map(change));
      stepTimes.push(`${name} ${((Date.now() - started) / 1000).toFixed(1)}s`);
      for (const result of results)
        if (result.status === "rejected") stepErrors.push(`${name}: ${(result.reason as Error).message}`);
    };
    const stopOne = async (stage: StageName): Promise<void> => void stopped.push(await stopNewest(pipeline, stage));
    const up = (stage: StageName): Promise<unknown> =>
      Promise.all([pipeline.startStage(stage), pipeline.startStage(stage)]);
    const down = (stage: StageName): Promise<unknown> => Promise.all([stopOne(stage), stopOne(stage)]);

    let firstStepAt = 0;
    let settledAt = 0;
    const offsets = new Map<RunningStage, number>();
    try {
      await sleep(pauseBetweenStepsMs);
      firstStepAt = load.sent.length;
      await step("up 1→3", up);
      await sleep(pauseBetweenStepsMs);
      await step("down 3→1", down);
      await sleep(pauseBetweenStepsMs);
      await step("up 1→3", up);
      await sleep(pauseBetweenStepsMs);
      await step("down 3→1", down);
      await sleep(settleMs);
      // The rebalance has settled: from here on, nothing a survivor logs may say its producer was fenced.
      settledAt = load.sent.length;
      for (const instance of [...pipeline.stages.values()].flat()) offsets.set(instance, instance.log.length);
      await sleep(lastBatchMs);
    } finally {
      await load.stop();
    }

    const ids = load.sent.map((request) => request.requestId);
    const settledIn = await watch.settle(ids, (id) => watch.responses.count(id) > 0, deadlineMs + 15_000);
    await watch.stop();

    const { responses } = watch;
    const phaseOf = (index: number): string =>
      index < firstStepAt ? "before" : index < settledAt ? "during" : "after";
    const unanswered = ids.filter((id) => responses.count(id) === 0);
    const unansweredByPhase = new Map<string, number>();
    for (const [index, id] of ids.entries())
      if (responses.count(id) === 0)
        unansweredByPhase.set(phaseOf(index), (unansweredByPhase.get(phaseOf(index)) ?? 0) + 1);
    const notAnswered = ids.flatMap((id) => {
      const response = responses.latest(id)?.value;
      return response === undefined || response.status === "ANSWERED"
        ? []
        : [`${id} ${response.status}: ${response.error ?? ""}`];
    });
    const duplicateResponses = ids.reduce((sum, id) => sum + Math.max(0, responses.count(id) - 1), 0);
    const deadLettered = ids.filter((id) => watch.deadLettered(id));
    const effects = await sideEffects(pipeline.toolsDataDir, idPrefix);
    const damaged = load.sent.filter((request) => request.metadata.customerEmail !== undefined).length;
    const fencedLines = [...offsets].flatMap(([instance, offset]) =>
      linesSince(instance, offset)
        .filter((line) => fencedProducer.test(line))
        .map((line) => `${instanceName(pipeline, instance)}: ${line.slice(0, 300)}`),
    );
    const failedExits = stopped
      .filter((exit) => exit.code !== 0)
      .map((exit) => `${instanceName(pipeline, exit.instance)} exited ${exit.code}`);

    console.log(
      `scale: requests ${ids.length} (before ${firstStepAt}, during ${settledAt - firstStepAt}, after ${ids.length - settledAt}),` +
        ` answered ${ids.length - unanswered.length}, duplicates ${duplicateResponses}, lost ${unanswered.length}` +
        ` (${["before", "during", "after"].map((phase) => `${phase} ${unansweredByPhase.get(phase) ?? 0}`).join(", ")}),` +
        ` not ANSWERED ${notAnswered.length}, dead-lettered ${deadLettered.length},` +
        ` duplicate side effects ${effects.duplicates} (emails ${effects.emails}, tickets ${effects.tickets} of ${damaged});` +
        ` exits ${stopped.map((exit) => exit.code).join(",")}; fenced lines after settle ${fencedLines.length};` +
        ` steps ${stepTimes.join(", ")}${stepErrors.length > 0 ? ", then a step failed" : ""};` +
        ` ${settledIn === undefined ? "not all answered" : `all answered ${settledIn}s`} after the last request`,
    );
    if (unanswered.length > 0) {
      console.log(`unanswered: ${unanswered.slice(0, 20).join(" ")}`);
      await printRunStates(backbone, unanswered);
    }
    if (notAnswered.length > 0) console.log(notAnswered.slice(0, 10).join("\n"));
    if (fencedLines.length > 0) console.log(fencedLines.slice(0, 10).join("\n"));
    printFailedExits(pipeline, stopped);
    if (stepErrors.length > 0) console.log(stepErrors.join("\n"));
    const failing =
      unanswered.length + notAnswered.length + duplicateResponses + effects.duplicates + fencedLines.length > 0 ||
      failedExits.length + stepErrors.length > 0;
    if (failing) {
      printProblems(pipeline);
      await saveLogs(pipeline, "scale");
    }
    printDuplicateResponses(pipeline, responses, ids);

    // The lists are printed above; the assertions show their first entries and their size.
    expect.soft(unanswered.slice(0, 10), `${unanswered.length} requests with no response`).toEqual([]);
    expect.soft(notAnswered.slice(0, 10), `${notAnswered.length} responses not ANSWERED`).toEqual([]);
    expect.soft(duplicateResponses, "duplicate responses").toBe(0);
    expect.soft(effects, "emails and tickets").toEqual({ emails: damaged, tickets: damaged, duplicates: 0 });
    expect.soft(failedExits, "SIGTERMed instances that did not exit 0").toEqual([]);
    expect
      .soft(
        stepErrors.map((error) => error.split("\n")[0]),
        "scale steps that failed",
      )
      .toEqual([]);
    expect
      .soft(fencedLines.slice(0, 3), `${fencedLines.length} lines of fenced producers after the rebalance settled`)
      .toEqual([]);
  }, 300_000);
});
