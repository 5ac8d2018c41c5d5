import { Argument, InvalidArgumentError, type Command } from "commander";
import { runAction } from "./run-action.ts";
import { scaleStage, type ScaleResult, type StageProcessStatus } from "./stack/pipeline-processes.ts";
import { displayPath } from "./stack/stack-format.ts";
import { instanceName, maxInstances } from "./stack/stage-instances.ts";
import { stageNames, type StageName } from "./stage-commands.ts";

/** Reads the `<stage>` argument: one of the pipeline's stages. */
export function parseStageName(value: string): StageName {
  const stage = stageNames.find((name) => name === value);
  if (stage === undefined) throw new InvalidArgumentError(`expected one of ${stageNames.join(", ")}, got "${value}"`);
  return stage;
}

/** Reads the `<n>` argument: a whole number of instances from 0 to {@link maxInstances}. */
export function parseInstanceCount(value: string): number {
  const count = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(count) || count > maxInstances) {
    throw new InvalidArgumentError(
      `expected a whole number from 0 to ${maxInstances} (one instance per partition; more would sit idle), got "${value}"`,
    );
  }
  return count;
}

/** One instance as `baton scale` prints it: name, pid, metrics port and log file. */
export function formatInstance(instance: StageProcessStatus, cwd: string): string {
  return `${instanceName(instance.stage, instance.instance)}  pid ${instance.pid ?? "?"}  metrics :${instance.metricsPort}  log ${displayPath(instance.logFile, cwd)}`;
}

/** The line that ends `baton scale`: how many run now and what changed. */
export function formatScaleSummary(stage: StageName, result: ScaleResult): string {
  const running = `${result.instances.length} instance${result.instances.length === 1 ? "" : "s"} running`;
  if (result.started.length === 0 && result.stopped.length === 0) return `${stage}: ${running}; nothing to do`;
  return `${stage}: ${running} (started ${result.started.length}, stopped ${result.stopped.length})`;
}

/** `baton scale <stage> <n>`'s output for scripts: the instances running afterwards and which numbers changed. */
export function scaleJson(stage: StageName, result: ScaleResult): unknown {
  return {
    stage,
    instances: result.instances,
    started: result.started.map((instance) => instance.instance),
    stopped: result.stopped.map((instance) => instance.instance),
  };
}

/** `baton scale <stage> <n>`: start or stop background instances of a stage until n run. */
export function registerScaleCommand(program: Command): void {
  program
    .command("scale")
    .description("start or stop background instances of a stage (as baton demo runs them) until n run")
    .addArgument(new Argument("<stage>", stageNames.join(", ")).argParser(parseStageName))
    .addArgument(new Argument("<n>", `instances to run, 0 to ${maxInstances}`).argParser(parseInstanceCount))
    .option("--json", "print the instances running afterwards as JSON")
    .showHelpAfterError("(run baton scale --help for usage)")
    .addHelpText(
      "after",
      [
        "",
        "Instances share the stage's consumer group, so Kafka splits the stage's partitions between them.",
        "A new instance i logs to .baton/stack/stages/<stage>-<i>.log and serves /metrics on the stage's port",
        "+ 10·(i−1) (executor: 9466, 9476, …); scale waits until it runs. Surplus instances stop one at a time,",
        "highest number first: SIGTERM, they finish in-flight work and commit, SIGKILL after 35 s.",
        "`baton top` shows which partitions each instance owns; `baton stack down` stops them all.",
        "",
        "Examples:",
        "  $ baton scale executor 3",
        "  $ baton scale executor 0 --json",
        "",
      ].join("\n"),
    )
    .action(
      runAction(async (stage: StageName, count: number, options: { json?: boolean }) => {
        const json = options.json === true;
        const cwd = process.cwd();
        const say = (line: string): void => {
          if (!json) console.log(line);
        };
        const progress = (line: string): void => void process.stderr.write(`${line}\n`);
        const result = await scaleStage(stage, count, {
          onStopping: (instance) =>
            progress(`stopping ${instanceName(stage, instance.instance)} (pid ${instance.pid ?? "?"})…`),
          onStarting: (instance) =>
            progress(
              `starting ${instanceName(stage, instance.instance)} (pid ${instance.pid ?? "?"}), waiting until it runs…`,
            ),
          onStopped: (instance) => say(`stopped ${formatInstance(instance, cwd)}  (${instance.outcome})`),
          onStarted: (instance) => say(`started ${formatInstance(instance, cwd)}`),
        });
        if (json) console.log(JSON.stringify(scaleJson(stage, result), null, 2));
        else say(formatScaleSummary(stage, result));
      }),
    );
}
