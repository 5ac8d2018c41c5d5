import type { Command } from "commander";
import { StackError } from "./stack-errors.ts";
import { formatDown, formatOneLine, formatPipelineStatus, formatStatus } from "./stack-format.ts";
import { stackDown, stackStatus, stackUp } from "./stack.ts";
import { applyDeclaredTopics, printTopicResults } from "../topics-command.ts";
import { applyDeclaredSchemas } from "../schemas-command.ts";
import { pipelineStatus, stopPipeline } from "./pipeline-processes.ts";
import { instanceName } from "./stage-instances.ts";
import { applyDeclaredAcls } from "../acls-command.ts";
import { backboneConfigSchema, parseConfig, type BackboneConfig } from "../../shared/config.ts";
import { adminPrincipal, principalAccess } from "../../shared/topics.ts";
import { secureStackEnv, secureStackEnvLines } from "./secure-env.ts";
import { resolveSecureStackPaths } from "./stack-paths.ts";
import { displayPath } from "./stack-format.ts";

/** After the services answer: make the topics and schemas match the repository (both idempotent). */
async function applyTopicsAndSchemas(verbose: boolean, config?: BackboneConfig): Promise<void> {
  const topics = await applyDeclaredTopics(config === undefined ? {} : { config });
  const { applied, refused } = await applyDeclaredSchemas(config);
  const created = topics.filter((result) => result.action !== "unchanged");
  const registered = applied.filter((result) => !result.unchanged);
  if (verbose || created.length > 0) printTopicResults(verbose ? topics : created);
  print(
    `topics: ${topics.length} declared, ${created.length} created or changed; schemas: ${applied.length + refused.length} subjects, ${registered.length} registered`,
  );
  for (const refusal of refused) print(`  REFUSED  ${refusal.subject}: ${refusal.reason}`);
  if (topics.some((result) => result.action === "refused") || refused.length > 0) {
    throw new Error("some topics or schemas could not be applied (see REFUSED above)");
  }
}

interface StackCommandOptions {
  stateDir?: string;
  secure?: boolean;
}

/**
 * The secured stack's admin as a CLI config: the SCRAM super user that applies topics and ACLs. The registry and
 * Zipkin are the plain stack's (SCHEMA_REGISTRY_URL and the like still come from the environment).
 */
export function secureAdminConfig(stateDir?: string): BackboneConfig {
  return parseConfig(backboneConfigSchema, { ...process.env, ...secureStackEnv(adminPrincipal, stateDir) });
}

/** On the secured stack, after topics and schemas: the ACLs, and how to run each principal. */
async function applySecurity(stateDir: string | undefined): Promise<void> {
  const count = await applyDeclaredAcls(secureAdminConfig(stateDir));
  print(`acls: ${count} rules for ${principalAccess.length} principals (baton acls print lists them)`);
  const credentials = displayPath(resolveSecureStackPaths(stateDir).stateDir, process.cwd());
  print(`passwords: ${credentials}/credentials/<principal>.password (mode 0600)`);
  print("run a stage, or the CLI, as one principal with (here the submitter; stages use baton-<stage>):");
  for (const line of secureStackEnvLines("baton-submitter", stateDir)) print(`  ${line}`);
}

/** Starts the stack (or finds it running), then applies topics and schemas; prints progress for people. */
export async function bringUpStack(options: {
  stateDir?: string | undefined;
  quietIfRunning: boolean;
  secure?: boolean | undefined;
}): Promise<void> {
  const started = performance.now();
  const stackOptions = { stateDir: options.stateDir, secure: options.secure };
  if (options.quietIfRunning) {
    const status = await stackStatus(stackOptions);
    if (status.ready) {
      print(formatOneLine(status));
      await applyTopicsAndSchemas(false, options.secure === true ? secureAdminConfig(options.stateDir) : undefined);
      if (options.secure === true) await applySecurity(options.stateDir);
      return;
    }
  }
  const status = await stackUp({ ...stackOptions, onProgress: print });
  print(`stack ready in ${((performance.now() - started) / 1000).toFixed(1)}s`);
  for (const line of formatStatus(status, process.cwd())) print(line);
  // The admin's password file exists once the secured broker was prepared.
  await applyTopicsAndSchemas(false, options.secure === true ? secureAdminConfig(options.stateDir) : undefined);
  if (options.secure === true) await applySecurity(options.stateDir);
  print(`stop it with: baton stack down${options.secure === true ? " --secure" : ""}`);
}

/** Adds `baton stack up|down|status`: the local Kafka, schema registry and Zipkin, run from Maven Central without Docker. */
export function registerStackCommands(program: Command): void {
  const stack = program
    .command("stack")
    .description("run the local stack Baton needs (Kafka, a schema registry, Zipkin) on loopback, without Docker")
    .option(
      "--state-dir <dir>",
      "folder for downloads, logs, data and pid files (default: .baton/ at the repository root)",
    )
    .option(
      "--secure",
      "the secured stack: a broker of its own on 127.0.0.1:9192 with SASL/SCRAM-SHA-512 and ACLs (state in .baton-secure/), sharing the registry and Zipkin",
    )
    .configureHelp({ showGlobalOptions: true })
    .addHelpText(
      "after",
      `
Services, all on loopback:
  Kafka              127.0.0.1:9092 (controller 127.0.0.1:9093)
  schema registry    http://127.0.0.1:8081/apis/ccompat/v7 (Apicurio, Confluent-compatible API)
  Zipkin             http://127.0.0.1:9411
Needs Java 17+, and Maven the first time (it downloads from Maven Central into .baton/cache/).

Example:
  $ baton stack up && baton stack status && baton stack down
  $ baton stack up --secure   # SASL/SCRAM broker on 9192 with ACLs from shared/topics.ts (README: Security)`,
    );

  stack
    .command("up")
    .description("start the local stack (downloading it the first time) and wait until every service answers")
    .option("--quiet-if-running", "if every service already answers, print one line and exit at once")
    .addHelpText(
      "after",
      `
Starts only what is not running; running services are left alone, and one whose process died
is started again. The processes outlive this command; stop them with baton stack down.

Examples:
  $ baton stack up
  $ baton stack up --quiet-if-running   # before a test run`,
    )
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<StackCommandOptions & { quietIfRunning?: boolean }>();
      await run(() =>
        bringUpStack({
          stateDir: options.stateDir,
          quietIfRunning: options.quietIfRunning === true,
          secure: options.secure === true,
        }),
      );
    });

  stack
    .command("down")
    .description(
      "stop the stage instances baton demo or baton scale started, then the processes baton stack up started (SIGTERM, then SIGKILL after 35 s and 30 s)",
    )
    .addHelpText(
      "after",
      `
Stops exactly the pids recorded under .baton/stack/<service>/pid and .baton/stack/stages/<stage>-<i>.pid;
never anything found by name or port.
Kafka's data in .baton/stack/kafka/data is kept; the registry and Zipkin keep theirs in memory only.

Example:
  $ baton stack down`,
    )
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<StackCommandOptions>();
      await run(async () => {
        const stagesStateDir =
          options.secure === true ? resolveSecureStackPaths(options.stateDir).stateDir : options.stateDir;
        for (const stopped of await stopPipeline(stagesStateDir)) {
          if (stopped.outcome !== "not-running")
            print(`stopped ${instanceName(stopped.stage, stopped.instance)} (pid ${stopped.pid}, ${stopped.outcome})`);
        }
        const result = await stackDown({ stateDir: options.stateDir, secure: options.secure, onProgress: print });
        for (const line of formatDown(result)) print(line);
      });
    });

  stack
    .command("status")
    .description("show whether each service runs, where it listens and where its logs are")
    .option("--json", "print the status as JSON")
    .addHelpText(
      "after",
      `
Exits 0 when every service answers, 1 otherwise.

Examples:
  $ baton stack status
  $ baton stack status --json | jq .ready`,
    )
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<StackCommandOptions & { json?: boolean }>();
      await run(async () => {
        const status = await stackStatus({ stateDir: options.stateDir, secure: options.secure });
        const stages = await pipelineStatus(options.stateDir);
        if (options.json === true) print(JSON.stringify({ ...status, stages }, null, 2));
        else {
          for (const line of formatStatus(status, process.cwd())) print(line);
          for (const line of formatPipelineStatus(stages, process.cwd())) print(line);
        }
        if (!status.ready) process.exitCode = 1;
      });
    });
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function run(work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    process.exitCode = 1;
    if (error instanceof StackError) {
      process.stderr.write(`error: ${error.message}\n`);
      if (error.details !== undefined) process.stderr.write(`${error.details}\n`);
    } else {
      process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
}
