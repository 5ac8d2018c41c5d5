import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backboneConfigSchema, parseConfig } from "../../shared/config.ts";
import { createBackbone, type Backbone } from "../../shared/backbone.ts";
import { createLogger } from "../../shared/telemetry/logger.ts";
import { BatonProducer } from "../../shared/kafka/producer.ts";
import { TopicWatcher } from "../../shared/kafka/topic-watcher.ts";
import type { Request, Response } from "../../shared/schemas/records.ts";
import { startOwnZipkin, type OwnZipkin } from "../integration/own-zipkin.ts";
import { e2eConfiguration, TestPipeline } from "./pipeline.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const zipkinPort = 9412;

let zipkin: OwnZipkin;
let pipeline: TestPipeline;
let backbone: Backbone;
let producer: BatonProducer;
let responses: TopicWatcher<Response>;
/** Every stage and CLI process of this test sends its spans to this test's own Zipkin, and keeps every trace. */
const tracingEnv = {
  OTEL_TRACES_EXPORTER: "zipkin",
  OTEL_EXPORTER_ZIPKIN_ENDPOINT: `http://127.0.0.1:${zipkinPort}/api/v2/spans`,
  OTEL_TRACES_SAMPLER: "always_on",
};

beforeAll(async () => {
  zipkin = await startOwnZipkin(zipkinPort);
  const config = parseConfig(backboneConfigSchema, tracingEnv);
  backbone = createBackbone("baton-outage-test", config, createLogger({ service: "baton-outage-test", level: "warn" }));
  producer = await BatonProducer.connect({
    kafka: backbone.kafka,
    codec: backbone.codec,
    tracer: backbone.tracing.tracer,
  });
  responses = new TopicWatcher<Response>({ kafka: backbone.kafka, codec: backbone.codec, topic: "baton.responses" });
  await responses.start();
  pipeline = await TestPipeline.start({ ...e2eConfiguration, env: tracingEnv });
}, 240_000);

afterAll(async () => {
  const stopped = await pipeline.stop();
  await responses.stop();
  await producer.disconnect();
  await backbone.tracing.shutdown();
  if (zipkin.process.signalCode === null && zipkin.process.exitCode === null) zipkin.process.kill("SIGCONT");
  await zipkin.kill();
  expect(stopped.filter((stage) => stage.code !== 0)).toEqual([]);
}, 90_000);

async function submitLoad(count: number): Promise<Request[]> {
  const requests: Request[] = Array.from({ length: count }, (_, index) => ({
    requestId: `outage-${randomUUID()}`,
    tenant: "demo",
    input: "How long does shipping take?",
    workflow: "parallel-lookup",
    metadata: { customerEmail: `load-${index}@example.com` },
    submittedAt: Date.now(),
  }));
  await producer.send(requests.map((request) => ({ topic: "baton.requests", key: request.requestId, value: request })));
  return requests;
}

async function allAnswered(requests: Request[]): Promise<Response[]> {
  return Promise.all(requests.map(async (request) => (await responses.waitFor(request.requestId, 120_000)).value));
}

/** Runs `baton submit --wait` as a user would, with the stages' tracing settings; its exit code, output and time. */
async function cliSubmit(): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      "--disable-warning=TimeoutNegativeWarning",
      "cli/main.ts",
      "submit",
      "How long does shipping take?",
      "--workflow",
      "parallel-lookup",
      "--meta",
      "customerEmail=cli@example.com",
      "--wait",
      "--timeout",
      "90",
    ],
    { cwd: root, env: { ...process.env, ...tracingEnv }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { code, stdout, stderr, seconds: (performance.now() - started) / 1000 };
}

/** A stage's counter from its /metrics (the port it logged when it started). */
async function stageMetric(stage: "executor" | "planner", line: RegExp): Promise<number> {
  const log = pipeline.stages.get(stage)?.[0]?.log ?? "";
  const port = /"metricsPort":(\d+)/.exec(log)?.[1];
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(line.exec(text)?.[1] ?? "0");
}

describe("a trace backend that hangs or dies never holds up the work", () => {
  it("with Zipkin up, a submitted request is answered and baton submit --wait exits 0", async () => {
    await allAnswered(await submitLoad(20));
    const submitted = await cliSubmit();
    expect(submitted.stderr).toBe("");
    expect(submitted.code).toBe(0);
    expect(submitted.stdout).toMatch(/ANSWERED|answered/i);
  });

  it("Zipkin hung (SIGSTOP) under load: every request is answered, and baton submit --wait exits 0 promptly", async () => {
    const during = submitLoad(60);
    zipkin.process.kill("SIGSTOP");
    const answered = await allAnswered(await during);
    expect(answered.every((response) => response.status === "ANSWERED")).toBe(true);
    const submitted = await cliSubmit();
    expect(submitted.code).toBe(0);
    // Connecting to Kafka, the run itself, then at most 2 s waiting on spans that cannot leave.
    expect(submitted.seconds).toBeLessThan(20);
  });

  it("Zipkin killed under load: every request is answered, baton submit --wait exits 0 at once, and the stages count the spans they dropped", async () => {
    const during = submitLoad(60);
    zipkin.process.kill("SIGKILL");
    await zipkin.kill();
    const answered = await allAnswered(await during);
    expect(answered.every((response) => response.status === "ANSWERED")).toBe(true);
    const submitted = await cliSubmit();
    expect(submitted.stderr).not.toContain("ECONNREFUSED");
    expect(submitted.code).toBe(0);
    expect(submitted.seconds).toBeLessThan(20);
    await new Promise((resolve) => setTimeout(resolve, 7_000));
    expect(
      await stageMetric("executor", /^baton_spans_dropped_total\{reason="export_failed"[^}]*\} (\d+)/m),
    ).toBeGreaterThan(0);
  });
});
