import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from "@opentelemetry/api";
import { messagingAttributes } from "../../shared/kafka/messaging-attributes.ts";
import { startTracing, type Tracing } from "../../shared/telemetry/tracing.ts";
import { backboneConfigSchema } from "../../shared/config.ts";
import { findRequestTraces } from "../../cli/trace-command.ts";
import { buildWaterfalls, renderWaterfall } from "../../cli/trace-view.ts";
import { eventually } from "./harness.ts";

const zipkinUrl = "http://127.0.0.1:9411";
const run = promisify(execFile);

/** Runs `baton trace` as people do; resolves with its exit code and output whatever the code. */
async function batonTrace(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["cli/main.ts", "trace", ...args], {
      env: { ...process.env, ZIPKIN_URL: zipkinUrl },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("baton trace against the local stack's Zipkin", () => {
  let tracing: Tracing;
  const requestId = `trace-cli-${randomUUID()}`;
  const t0 = Date.now() - 5_000;
  const at = (ms: number): Date => new Date(t0 + ms);

  beforeAll(async () => {
    tracing = startTracing({
      serviceName: "baton-test-trace-cli",
      config: backboneConfigSchema.parse({
        OTEL_TRACES_EXPORTER: "zipkin",
        OTEL_EXPORTER_ZIPKIN_ENDPOINT: `${zipkinUrl}/api/v2/spans`,
        OTEL_TRACES_SAMPLER: "always_on",
      }),
    });
    const { tracer } = tracing;
    const child = (parent: Span): Context => trace.setSpan(ROOT_CONTEXT, parent);

    // What one request leaves: the CLI's submit, its send, a stage processing it, a send onward and a failure.
    const submit = tracer.startSpan("submit request", {
      startTime: at(0),
      attributes: { "baton.request_id": requestId },
    });
    const send = tracer.startSpan(
      "send baton.requests",
      {
        kind: SpanKind.PRODUCER,
        startTime: at(1),
        attributes: messagingAttributes({ operation: "send", topic: "baton.requests", key: requestId }),
      },
      child(submit),
    );
    const plan = tracer.startSpan(
      "process baton.requests",
      {
        kind: SpanKind.CONSUMER,
        startTime: at(10),
        attributes: {
          ...messagingAttributes({ operation: "process", topic: "baton.requests", key: requestId, partition: 0 }),
          "baton.stage": "planner",
        },
      },
      child(send),
    );
    const sendCall = tracer.startSpan(
      "send baton.tool-calls",
      {
        kind: SpanKind.PRODUCER,
        startTime: at(40),
        attributes: messagingAttributes({ operation: "send", topic: "baton.tool-calls", key: requestId }),
      },
      child(plan),
    );
    const failedCall = tracer.startSpan(
      "process baton.tool-calls",
      {
        kind: SpanKind.CONSUMER,
        startTime: at(50),
        attributes: {
          ...messagingAttributes({ operation: "process", topic: "baton.tool-calls", key: requestId }),
          "baton.stage": "policy",
          "baton.attempt": 2,
        },
      },
      child(sendCall),
    );
    failedCall.setStatus({ code: SpanStatusCode.ERROR, message: "tool crm.lookup is not allowed for tenant trial" });
    failedCall.setAttribute("baton.failure.route", "dead-letter");
    failedCall.end(at(100));
    sendCall.end(at(42));
    plan.end(at(45));
    send.end(at(3));
    submit.end(at(4));

    // A second trace of the same request: a person's approval answer, later.
    const answer = tracer.startSpan("send baton.approval-answers", {
      kind: SpanKind.PRODUCER,
      startTime: at(2_000),
      attributes: messagingAttributes({ operation: "send", topic: "baton.approval-answers", key: requestId }),
    });
    answer.end(at(2_003));

    await tracing.shutdown();
  });

  it("finds every trace tagged with the request id and lays each out as a waterfall, oldest first", async () => {
    const waterfalls = await eventually(async () => {
      const found = buildWaterfalls(
        await findRequestTraces({ zipkinUrl, requestId, lookbackMs: 3_600_000, limit: 10 }),
      );
      return found.length === 2 && found[0]?.rows.length === 5 ? found : undefined;
    }, 30_000);

    const [request, approval] = waterfalls;
    expect(request?.durationMs).toBe(100);
    expect(
      request?.rows.map((row) => [
        row.depth,
        row.hop,
        row.stage,
        row.startMs,
        row.durationMs,
        row.status,
        row.attempts,
      ]),
    ).toEqual([
      [0, "submit request", "test-trace-cli", 0, 4, "OK", null],
      [1, "send baton.requests", "test-trace-cli", 1, 2, "OK", null],
      [2, "process baton.requests", "planner", 10, 35, "OK", null],
      [3, "send baton.tool-calls", "test-trace-cli", 40, 2, "OK", null],
      [4, "process baton.tool-calls", "policy", 50, 50, "ERROR", 2],
    ]);
    expect(request?.rows[4]).toMatchObject({
      error: "tool crm.lookup is not allowed for tenant trial",
      route: "dead-letter",
    });
    expect(approval?.rows.map((row) => row.hop)).toEqual(["send baton.approval-answers"]);

    if (request === undefined) throw new Error("no waterfall");
    const lines = renderWaterfall(request, { zipkinUrl, barWidth: 20 });
    expect(lines[1]).toBe(`  ${zipkinUrl}/zipkin/traces/${request?.traceId}`);
    expect(lines.at(-1)).toMatch(
      /^ {8}process baton\.tool-calls +policy +50\.0 +50\.0 +ERROR +2 +\| {10}█{10}\| {2}dead-letter: tool crm\.lookup/,
    );
  });

  it("prints the waterfalls from the command line, and the rows with --json", async () => {
    await eventually(async () => {
      const found = await findRequestTraces({ zipkinUrl, requestId, lookbackMs: 3_600_000, limit: 10 });
      return buildWaterfalls(found)[0]?.rows.length === 5 ? true : undefined;
    }, 30_000);

    const human = await batonTrace(requestId, "--width", "20");
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`request ${requestId}: 2 traces, oldest first`);
    expect(human.stdout).toMatch(/\n {4}process baton\.requests +planner +10\.0 +35\.0 +OK /);
    expect(human.stdout).toMatch(new RegExp(`${zipkinUrl}/zipkin/traces/[0-9a-f]{32}`));

    const json = await batonTrace(requestId, "--json");
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as {
      requestId: string;
      traces: Array<{ traceId: string; url: string; rows: Array<{ hop: string; stage: string }> }>;
    };
    expect(parsed.requestId).toBe(requestId);
    expect(parsed.traces).toHaveLength(2);
    expect(parsed.traces[0]?.url).toBe(`${zipkinUrl}/zipkin/traces/${parsed.traces[0]?.traceId}`);
    expect(parsed.traces[0]?.rows.map((row) => row.stage)).toContain("policy");
  });

  it("says no trace was found and what to check, and exits 1, for a request Zipkin never saw", async () => {
    const missing = await batonTrace(`never-sent-${randomUUID()}`);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toMatch(/no trace found for request never-sent-/);
    expect(missing.stderr).toContain("OTEL_TRACES_EXPORTER");
  });
});
