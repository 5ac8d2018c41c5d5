import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backbone } from "../../shared/backbone.ts";
import { readTopic } from "../../shared/kafka/topic-reader.ts";
import type { TopicWatcher } from "../../shared/kafka/topic-watcher.ts";
import type { Response, RunState } from "../../shared/schemas/records.ts";
import type { RunningStage, TestPipeline } from "../e2e/pipeline.ts";
import type { StoppedInstance } from "./harness.ts";

/** A stage instance's name in diagnostics: its stage and its place among that stage's instances, e.g. `planner#3`. */
export function instanceName(pipeline: TestPipeline, instance: RunningStage): string {
  const same = pipeline.instances.filter((candidate) => candidate.stage === instance.stage);
  return `${instance.stage}#${same.indexOf(instance) + 1}`;
}

/** The log lines an instance wrote from `offset` (a length of its log) on. */
export function linesSince(instance: RunningStage, offset = 0): string[] {
  return instance.log
    .slice(offset)
    .split("\n")
    .filter((line) => line.trim() !== "");
}

/** Warnings that say nothing about a failure: kafkajs's own chatter, and instances sharing a host's metrics port. */
const expectedWarnings = ['"component":"kafkajs"', '"msg":"metrics port taken'];

/** Warnings and errors of every instance ever started, oldest instance first. */
export function problemLines(pipeline: TestPipeline): string[] {
  return pipeline.instances.flatMap((instance) =>
    linesSince(instance)
      .filter(
        (line) => /"level":(40|50|60)/.test(line) && !expectedWarnings.some((expected) => line.includes(expected)),
      )
      .map((line) => `${instanceName(pipeline, instance)}: ${line.slice(0, 300)}`),
  );
}

/** Prints the last warnings and errors of the stages. */
export function printProblems(pipeline: TestPipeline, count = 40): void {
  console.log(problemLines(pipeline).slice(-count).join("\n"));
}

/** Writes every instance's whole log to a new temporary folder, `<stage>#<n>.log` each, and prints where. */
export async function saveLogs(pipeline: TestPipeline, test: string): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), `baton-${test}-logs-`));
  await Promise.all(
    pipeline.instances.map((instance) =>
      writeFile(join(folder, `${instanceName(pipeline, instance)}.log`), instance.log),
    ),
  );
  console.log(`the log of every stage instance: ${folder}`);
}

/** Prints each SIGTERMed instance that did not exit 0, with the last lines it logged, whatever their level. */
export function printFailedExits(pipeline: TestPipeline, stopped: StoppedInstance[], lines = 12): void {
  for (const { instance, code } of stopped.filter((candidate) => candidate.code !== 0)) {
    console.log(`${instanceName(pipeline, instance)} exited ${code}, after:`);
    for (const line of linesSince(instance).slice(-lines))
      console.log(`  ${instanceName(pipeline, instance)}: ${line.slice(0, 300)}`);
  }
}

/** Prints the last recorded state of up to ten runs that got no response, from `baton.runs`. */
export async function printRunStates(backbone: Backbone, requestIds: string[]): Promise<void> {
  const shown = new Set(requestIds.slice(0, 10));
  const runs = await readTopic({
    kafka: backbone.kafka,
    codec: backbone.codec,
    topic: "baton.runs",
    timeoutMs: 8_000,
    until: () => false,
  });
  for (const id of shown) {
    const state = runs.filter((message) => message.key === id).at(-1)?.value as RunState | undefined;
    console.log(
      `no response for ${id}: run ${state?.status ?? "none"} ${(state?.steps ?? []).map((step) => `${step.stepId}=${step.status}`).join(" ")}`,
    );
  }
}

/** Prints up to five requests answered more than once, with what each stage logged about them. */
export function printDuplicateResponses(
  pipeline: TestPipeline,
  responses: TopicWatcher<Response>,
  requestIds: string[],
): void {
  for (const id of requestIds.filter((candidate) => responses.count(candidate) > 1).slice(0, 5)) {
    const latest = responses.latest(id)?.value;
    console.log(
      `duplicate response ${id}: ${responses.count(id)} responses, latest ${latest?.status} ${latest?.error ?? ""}`,
    );
    for (const instance of pipeline.instances)
      for (const line of linesSince(instance)
        .filter((text) => text.includes(id))
        .slice(-10))
        console.log(`  ${instanceName(pipeline, instance)}: ${line.slice(0, 300)}`);
  }
}
