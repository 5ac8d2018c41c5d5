import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backboneConfigSchema, parseConfig } from "../../shared/config.ts";
import { createBackbone, type Backbone } from "../../shared/backbone.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { TopicWatcher } from "../../shared/kafka/topic-watcher.ts";
import { deadLetterTopicName, topics } from "../../shared/topics.ts";
import type { Request, Response } from "../../shared/schemas/records.ts";
import type { StageName } from "../../cli/stage-commands.ts";
import { TestPipeline, type RunningStage } from "../e2e/pipeline.ts";

/** The four stages, in the order the chaos tests start and scale them. */
export const stageNames: readonly StageName[] = ["planner", "policy", "executor", "summarizer"];

/** Where the supervised outbox MCP server listens (test/chaos/mcp-servers.yaml points the executor there). */
const outboxPort = 18792;

/** What a chaos test runs against: the stages, a client of the stack, and the outbox they send email through. */
export interface ChaosHarness {
  pipeline: TestPipeline;
  backbone: Backbone;
  producer: BatonProducer;
  /** Stops the stages (returning their exit codes), the outbox, the producer and tracing. */
  stop(): Promise<Array<{ stage: StageName; code: number | null }>>;
}

/** Options for {@link startChaosHarness}. */
export interface ChaosHarnessOptions {
  /** Service name of the test's own Kafka client. */
  service: string;
  /** Instances of each stage to start. */
  instancesPerStage: number;
  /** The executor's MCP servers, relative to the repository; test/chaos/mcp-servers.yaml (faulty tools) by default. */
  serversFile?: string;
  /** BATON_TOOLS_FAULTS of the outbox; none when absent. */
  outboxFaults?: string;
}

/**
 * Runs the outbox MCP server like an external service, restarting it whenever it exits (an injected crash)
 * until stopped.
 */
class SupervisedOutbox {
  private child: ChildProcess | undefined;
  private stopping = false;
  private readonly env: NodeJS.ProcessEnv;

  constructor(dataDir: string, faults: string | undefined) {
    this.env = {
      ...process.env,
      OUTBOX_PORT: String(outboxPort),
      BATON_TOOLS_DATA_DIR: dataDir,
      BATON_TOOLS_FAULTS: faults ?? "",
    };
  }

  async start(): Promise<void> {
    this.spawn();
    for (let tries = 0; !(await this.answers()); tries += 1) {
      if (tries > 100) throw new Error(`the outbox MCP server did not start on 127.0.0.1:${outboxPort}`);
      await sleep(200);
    }
  }

  stop(): void {
    this.stopping = true;
    this.child?.kill("SIGTERM");
  }

  private spawn(): void {
    if (this.stopping) return;
    const child = spawn(process.execPath, ["tools/outbox/server.ts"], { env: this.env, stdio: "ignore" });
    this.child = child;
    child.once("exit", () => setTimeout(() => this.spawn(), 200));
  }

  private answers(): Promise<boolean> {
    return fetch(`http://127.0.0.1:${outboxPort}/healthz`).then(
      (response) => response.ok,
      () => false,
    );
  }
}

/**
 * Starts the chaos configuration (test/chaos/policy.yaml and an MCP servers file) with the outbox supervised by the
 * test, and the given number of instances of each stage.
 */
export async function startChaosHarness(options: ChaosHarnessOptions): Promise<ChaosHarness> {
  const toolsDataDir = await mkdtemp(join(tmpdir(), "baton-chaos-tools-"));
  const outbox = new SupervisedOutbox(toolsDataDir, options.outboxFaults);
  await outbox.start();
  const config = parseConfig(backboneConfigSchema, { OTEL_TRACES_EXPORTER: "none" });
  const backbone = createBackbone(options.service, config, createLogger({ service: options.service, level: "silent" }));
  const producer = await BatonProducer.connect({
    kafka: backbone.kafka,
    codec: backbone.codec,
    tracer: backbone.tracing.tracer,
  });
  const pipeline = await TestPipeline.start({
    workflowsDirs: [],
    policyFile: "test/chaos/policy.yaml",
    serversFile: options.serversFile ?? "test/chaos/mcp-servers.yaml",
    toolsDataDir,
  });
  for (let instance = 1; instance < options.instancesPerStage; instance += 1)
    for (const stage of stageNames) await pipeline.startStage(stage);
  return {
    pipeline,
    backbone,
    producer,
    async stop() {
      outbox.stop();
      const codes = await pipeline.stop();
      await producer.disconnect();
      await backbone.tracing.shutdown();
      return codes;
    },
  };
}

/** A stage instance stopped by SIGTERM, and how it exited. */
export interface StoppedInstance {
  instance: RunningStage;
  code: number | null;
}

/** Scales a stage in by one: SIGTERMs its newest instance (see {@link TestPipeline.stopOne}) and waits for its exit. */
export async function stopNewest(pipeline: TestPipeline, stage: StageName): Promise<StoppedInstance> {
  const instance = pipeline.stages.get(stage)?.at(-1);
  if (instance === undefined) throw new Error(`no instance of ${stage} is running`);
  return { instance, code: await pipeline.stopOne(stage) };
}

/**
 * A `customer-support` request; every even one reports a damaged order with a customer address, so its run opens
 * a ticket and sends an email (side effects that must happen once), the others only search.
 */
export function customerSupportRequest(idPrefix: string, index: number, deadlineMs: number): Request {
  const damaged = index % 2 === 0;
  const requestId = `${idPrefix}-${index}`;
  return {
    requestId,
    tenant: "demo",
    input: damaged ? `My order #${index} arrived damaged and I want a refund` : "How long does shipping take?",
    workflow: "customer-support",
    // A run stuck on a lost message is answered FAILED by its deadline, inside the time the tests wait.
    metadata: damaged
      ? { customerEmail: `${requestId}@example.com`, deadlineMs: String(deadlineMs) }
      : { deadlineMs: String(deadlineMs) },
    submittedAt: Date.now(),
  };
}

/** An open-loop load: requests sent on a fixed schedule, whether or not earlier ones were answered. */
export interface Load {
  /** Every request sent so far, in order. */
  readonly sent: Request[];
  /** Resolves when the load ended (its count reached, or stopped) and the last send returned. */
  readonly done: Promise<void>;
  /** Sends nothing more; resolves like `done`. */
  stop(): Promise<void>;
}

/**
 * Sends `request(0)`, `request(1)`, … at `perSecond`, catching up at once after a slow send, up to `count`. A send
 * that fails (the broker restarting) is tried again every second for a minute: the same requestId sent twice is
 * still one request to Baton.
 */
export function sendAtFixedRate(options: {
  producer: BatonProducer;
  perSecond: number;
  request: (index: number) => Request;
  count?: number;
}): Load {
  const sent: Request[] = [];
  let stopped = false;
  const started = Date.now();
  const send = async (value: Request): Promise<void> => {
    for (let tries = 1; ; tries += 1) {
      try {
        await options.producer.send([{ topic: "baton.requests", key: value.requestId, value }]);
        return;
      } catch (error) {
        if (tries >= 60) throw error;
        await sleep(1_000);
      }
    }
  };
  const done = (async () => {
    for (let index = 0; index < (options.count ?? Number.POSITIVE_INFINITY); index += 1) {
      await sleep(started + (index * 1000) / options.perSecond - Date.now());
      if (stopped) return;
      const value = options.request(index);
      await send(value);
      sent.push(value);
    }
  })();
  // Awaited by `stop` or by the test; until then a failure must not count as an unhandled rejection.
  done.catch(() => undefined);
  return {
    sent,
    done,
    stop() {
      stopped = true;
      return done;
    },
  };
}

/** Follows `baton.responses` and every dead-letter topic from now on. */
export class OutcomeWatch {
  readonly responses: TopicWatcher<Response>;
  private readonly deadLetters: Array<TopicWatcher<unknown>>;

  constructor(backbone: Backbone) {
    const { kafka, codec } = backbone;
    this.responses = new TopicWatcher<Response>({ kafka, codec, topic: "baton.responses" });
    this.deadLetters = topics
      .filter((topic) => topic.deadLetter)
      .map((topic) => new TopicWatcher<unknown>({ kafka, codec, topic: deadLetterTopicName(topic.name) }));
  }

  async start(): Promise<void> {
    await Promise.all([this.responses, ...this.deadLetters].map((watcher) => watcher.start()));
  }

  async stop(): Promise<void> {
    await Promise.all([this.responses, ...this.deadLetters].map((watcher) => watcher.stop()));
  }

  /** Whether a message of this request was dead-lettered. */
  deadLettered(requestId: string): boolean {
    return this.deadLetters.some((watcher) => watcher.count(requestId) > 0);
  }

  /**
   * Waits until `done` holds for every id or `timeoutMs` passed, then a little longer for late duplicates; returns
   * how many seconds passed until every id was done, or undefined when some never was.
   */
  async settle(ids: string[], done: (id: string) => boolean, timeoutMs: number): Promise<number | undefined> {
    const started = Date.now();
    while (!ids.every(done) && Date.now() < started + timeoutMs) await sleep(1_000);
    const seconds = ids.every(done) ? Math.round((Date.now() - started) / 1000) : undefined;
    await sleep(5_000);
    return seconds;
  }
}

/** The side effects the tools recorded for requests whose ids start with `idPrefix`. */
export interface SideEffects {
  emails: number;
  tickets: number;
  /** Emails to the same address plus tickets with the same subject, beyond the first of each. */
  duplicates: number;
}

/** Counts the emails (outbox.jsonl) and tickets (tickets.jsonl) of a test's requests, and their duplicates. */
export async function sideEffects(toolsDataDir: string, idPrefix: string): Promise<SideEffects> {
  const emails = (await jsonLines(join(toolsDataDir, "outbox.jsonl"))).filter((email) =>
    String(email.to).startsWith(`${idPrefix}-`),
  );
  const tickets = (await jsonLines(join(toolsDataDir, "tickets.jsonl"))).filter((ticket) =>
    String(ticket.subject).includes(`${idPrefix}-`),
  );
  return {
    emails: emails.length,
    tickets: tickets.length,
    duplicates: duplicates(emails.map((email) => email.to)) + duplicates(tickets.map((ticket) => ticket.subject)),
  };
}

async function jsonLines(file: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function duplicates(values: unknown[]): number {
  const counts = new Map<unknown, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts.values()].reduce((sum, count) => sum + Math.max(0, count - 1), 0);
}

/** Waits `ms` milliseconds (none when negative). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
