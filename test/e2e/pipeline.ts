import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stopPipeline } from "../../cli/stack/pipeline-processes.ts";
import type { StageName } from "../../cli/stage-commands.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Where a test pipeline's workflows, policy and MCP servers come from (paths relative to the repository). */
export interface PipelineConfiguration {
  workflowsDirs: string[];
  policyFile: string;
  serversFile: string;
  /** Where the example tools keep their data; a new temporary folder when not given. */
  toolsDataDir?: string;
}

/** The end-to-end tests' configuration. */
export const e2eConfiguration: PipelineConfiguration = {
  workflowsDirs: ["test/e2e/workflows"],
  policyFile: "test/e2e/policy.yaml",
  serversFile: "test/e2e/mcp-servers.yaml",
};

/** One stage process of the test pipeline, with its captured log. */
export interface RunningStage {
  stage: StageName;
  process: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}

/** The four stages as real processes, configured with the end-to-end tests' workflows, policy and MCP servers. */
export class TestPipeline {
  /** The instances of each stage still running, oldest first. */
  readonly stages = new Map<StageName, RunningStage[]>();
  /** Every instance started, running or not, oldest first: whose logs to read when a test fails. */
  readonly instances: RunningStage[] = [];
  readonly env: Record<string, string>;
  readonly toolsDataDir: string;

  private constructor(toolsDataDir: string, configuration: PipelineConfiguration, extraEnv: Record<string, string>) {
    this.toolsDataDir = toolsDataDir;
    this.env = {
      WORKFLOWS_DIR: [join(root, "workflows"), ...configuration.workflowsDirs.map((dir) => join(root, dir))].join(","),
      POLICY_FILE: join(root, configuration.policyFile),
      MCP_SERVERS_FILE: join(root, configuration.serversFile),
      BATON_TOOLS_DATA_DIR: toolsDataDir,
      // Traces go to the stack's Zipkin, where the tracing test reads them back.
      OTEL_TRACES_EXPORTER: "zipkin",
      BATON_LOG_LEVEL: "info",
      ...extraEnv,
    };
  }

  /**
   * Stops any demo stages (they share the consumer groups), then starts one instance of each stage, with `env` added
   * to every stage's environment (e.g. another Zipkin).
   */
  static async start(
    configuration: PipelineConfiguration = e2eConfiguration,
    env: Record<string, string> = {},
  ): Promise<TestPipeline> {
    await stopPipeline();
    const dataDir = configuration.toolsDataDir ?? (await mkdtemp(join(tmpdir(), "baton-e2e-tools-")));
    const pipeline = new TestPipeline(dataDir, configuration, env);
    await pipeline.startStage("executor");
    await Promise.all((["planner", "policy", "summarizer"] as const).map((stage) => pipeline.startStage(stage)));
    return pipeline;
  }

  /** Starts one more instance of a stage and waits until it consumes. */
  async startStage(stage: StageName, extraEnv: Record<string, string> = {}): Promise<RunningStage> {
    const child = spawn(
      process.execPath,
      ["--disable-warning=TimeoutNegativeWarning", join(root, "cli/main.ts"), stage],
      {
        cwd: root,
        env: { ...process.env, ...this.env, ...extraEnv },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const running: RunningStage = {
      stage,
      process: child,
      log: "",
      exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))),
    };
    child.stdout?.on("data", (chunk: Buffer) => (running.log += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (running.log += chunk.toString()));
    const list = this.stages.get(stage) ?? [];
    list.push(running);
    this.stages.set(stage, list);
    this.instances.push(running);
    const deadline = Date.now() + 90_000;
    while (!running.log.includes('"msg":"stage running"')) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`${stage} did not start (exit ${child.exitCode}); its log:\n${running.log.slice(-3000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return running;
  }

  /** Kills every instance of a stage with SIGKILL, as a crash would. */
  async kill(stage: StageName): Promise<void> {
    for (const running of this.stages.get(stage) ?? []) {
      running.process.kill("SIGKILL");
      await running.exited;
    }
    this.stages.set(stage, []);
  }

  /** Kills the oldest instance of a stage with SIGKILL; the others keep running and take over its partitions. */
  async killOne(stage: StageName): Promise<void> {
    const [oldest, ...rest] = this.stages.get(stage) ?? [];
    if (oldest === undefined) return;
    oldest.process.kill("SIGKILL");
    await oldest.exited;
    this.stages.set(stage, rest);
  }

  /**
   * Stops the newest instance of a stage with SIGTERM, as scaling in does (it finishes its work and leaves its
   * group; the others take over its partitions), and returns its exit code once it exited.
   */
  async stopOne(stage: StageName): Promise<number | null> {
    const instances = this.stages.get(stage) ?? [];
    const newest = instances.at(-1);
    if (newest === undefined) throw new Error(`no instance of ${stage} is running`);
    this.stages.set(stage, instances.slice(0, -1));
    newest.process.kill("SIGTERM");
    return newest.exited;
  }

  /** Stops every instance of a stage with SIGTERM (it leaves its group at once) and returns their exit codes. */
  async stopStage(stage: StageName): Promise<Array<number | null>> {
    const instances = this.stages.get(stage) ?? [];
    for (const running of instances) running.process.kill("SIGTERM");
    const codes = await Promise.all(instances.map((running) => running.exited));
    this.stages.set(stage, []);
    return codes;
  }

  /** Stops every stage with SIGTERM and returns their exit codes. */
  async stop(): Promise<Array<{ stage: StageName; code: number | null }>> {
    const all = [...this.stages.values()].flat();
    for (const running of all) running.process.kill("SIGTERM");
    return Promise.all(all.map(async (running) => ({ stage: running.stage, code: await running.exited })));
  }
}
