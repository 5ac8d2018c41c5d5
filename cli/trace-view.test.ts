import { describe, expect, it } from "vitest";
import {
  buildWaterfall,
  buildWaterfalls,
  renderWaterfall,
  timelineBar,
  traceUrl,
  type TraceSpan,
} from "./trace-view.ts";

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const t0 = 1_795_000_000_000_000;

function span(id: string, fields: Partial<TraceSpan> = {}): TraceSpan {
  return { traceId, id, name: `span ${id}`, timestamp: t0, duration: 1_000, ...fields };
}

/** submit -> send requests -> process requests (planner) -> send tool-calls -> process tool-calls (policy, failed). */
const requestSpans: TraceSpan[] = [
  span("e", {
    parentId: "d",
    name: "process baton.tool-calls",
    timestamp: t0 + 30_000,
    duration: 70_000,
    localEndpoint: { serviceName: "baton-policy" },
    tags: {
      "baton.stage": "policy",
      error: "tool crm is not allowed",
      "baton.failure.route": "dead-letter",
      "baton.attempt": "3",
    },
  }),
  span("a", { name: "submit request", timestamp: t0, duration: 4_000, localEndpoint: { serviceName: "baton-cli" } }),
  span("c", {
    parentId: "b",
    name: "process baton.requests",
    timestamp: t0 + 10_000,
    duration: 20_000,
    localEndpoint: { serviceName: "baton-planner" },
    tags: { "baton.stage": "planner" },
  }),
  span("b", {
    parentId: "a",
    name: "send baton.requests",
    timestamp: t0 + 1_000,
    duration: 2_000,
    localEndpoint: { serviceName: "baton-cli" },
  }),
  span("d", {
    parentId: "c",
    name: "send baton.tool-calls",
    timestamp: t0 + 25_000,
    duration: 1_000,
    localEndpoint: { serviceName: "baton-planner" },
  }),
];

describe("buildWaterfall", () => {
  it("orders hops parent before child, with offsets and durations in ms from the trace's first span", () => {
    const waterfall = buildWaterfall(requestSpans);
    expect(waterfall.traceId).toBe(traceId);
    expect(waterfall.startedAt).toBe(t0 / 1_000);
    expect(waterfall.durationMs).toBe(100);
    expect(waterfall.rows.map((row) => [row.depth, row.hop, row.stage, row.startMs, row.durationMs])).toEqual([
      [0, "submit request", "cli", 0, 4],
      [1, "send baton.requests", "cli", 1, 2],
      [2, "process baton.requests", "planner", 10, 20],
      [3, "send baton.tool-calls", "planner", 25, 1],
      [4, "process baton.tool-calls", "policy", 30, 70],
    ]);
  });

  it("marks a span with an error tag as ERROR, with its message, route and attempt", () => {
    const failed = buildWaterfall(requestSpans).rows.find((row) => row.spanId === "e");
    expect(failed).toMatchObject({
      status: "ERROR",
      error: "tool crm is not allowed",
      route: "dead-letter",
      attempts: 3,
    });
    const fine = buildWaterfall(requestSpans).rows.find((row) => row.spanId === "c");
    expect(fine).toMatchObject({ status: "OK", error: null, route: null, attempts: null });
  });

  it("treats OpenTelemetry's otel.status_code ERROR as a failure even without an error tag", () => {
    const [row] = buildWaterfall([span("x", { tags: { "otel.status_code": "ERROR" } })]).rows;
    expect(row?.status).toBe("ERROR");
  });

  it("shows a span whose parent is not in the trace as a root, so no hop is hidden", () => {
    const rows = buildWaterfall([span("a"), span("orphan", { parentId: "missing", timestamp: t0 + 5_000 })]).rows;
    expect(rows.map((row) => [row.spanId, row.depth])).toEqual([
      ["a", 0],
      ["orphan", 0],
    ]);
  });

  it("shows every span once even when parents form a cycle", () => {
    const rows = buildWaterfall([span("a", { parentId: "b" }), span("b", { parentId: "a" })]).rows;
    expect(rows.map((row) => row.spanId).sort()).toEqual(["a", "b"]);
  });

  it("names the stage from the service when the span has no baton.stage tag", () => {
    const [row] = buildWaterfall([span("a", { localEndpoint: { serviceName: "my-relay" } })]).rows;
    expect(row?.stage).toBe("my-relay");
  });
});

describe("buildWaterfalls", () => {
  it("keeps each trace of a request, oldest first, and each span once when both tag searches found it", () => {
    const later = "0af7651916cd43dd8448eb211c80319c";
    const approval = [span("p", { traceId: later, name: "send baton.approval-answers", timestamp: t0 + 60_000_000 })];
    const waterfalls = buildWaterfalls([approval, requestSpans, requestSpans]);
    expect(waterfalls.map((waterfall) => [waterfall.traceId, waterfall.rows.length])).toEqual([
      [traceId, 5],
      [later, 1],
    ]);
  });

  it("is empty when nothing was found", () => {
    expect(buildWaterfalls([])).toEqual([]);
  });
});

describe("timelineBar", () => {
  it("places a span's bar in proportion to the trace", () => {
    expect(timelineBar(0, 50, 100, 10)).toBe("█████     ");
    expect(timelineBar(50, 50, 100, 10)).toBe("     █████");
    expect(timelineBar(30, 10, 100, 10)).toBe("   █      ");
  });

  it("draws at least one cell for a span too short to see, and one cell when the trace has no duration", () => {
    expect(timelineBar(99.9, 0.01, 100, 10)).toBe("         █");
    expect(timelineBar(0, 0, 0, 4)).toBe("█   ");
  });
});

describe("renderWaterfall", () => {
  it("prints the trace's Zipkin link, a header, and a row per hop indented under its parent with its bar", () => {
    const lines = renderWaterfall(buildWaterfall(requestSpans), { zipkinUrl: "http://127.0.0.1:9411/", barWidth: 10 });
    expect(lines[0]).toBe(`trace ${traceId}  5 spans  100 ms  started ${new Date(t0 / 1_000).toISOString()}  1 error`);
    expect(lines[1]).toBe(`  http://127.0.0.1:9411/zipkin/traces/${traceId}`);
    expect(lines[2]).toMatch(/^hop +stage +start ms +dur ms +status +attempts +timeline$/);
    expect(lines[3]).toMatch(/^submit request +cli +0\.0 +4\.0 +OK +\|█ {9}\|$/);
    expect(lines[5]).toMatch(/^ {4}process baton\.requests +planner +10\.0 +20\.0 +OK +\| █{2} {7}\|$/);
    expect(lines[7]).toMatch(
      /^ {8}process baton\.tool-calls +policy +30\.0 +70\.0 +ERROR +3 +\| {3}█{7}\| {2}dead-letter: tool crm is not allowed$/,
    );
  });

  it("builds the UI link from the base URL", () => {
    expect(traceUrl("http://zipkin:9411", "abc")).toBe("http://zipkin:9411/zipkin/traces/abc");
  });
});
