import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { parsePrometheusExposition, parsePrometheusText } from "./prometheus-text.ts";

describe("parsePrometheusText", () => {
  it("reads what prom-client serves: counters and histogram buckets with their labels", async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ stage: "planner" });
    const counter = new Counter({
      name: "baton_messages_in_total",
      help: "in",
      labelNames: ["topic"],
      registers: [registry],
    });
    const histogram = new Histogram({
      name: "baton_processing_seconds",
      help: "time",
      labelNames: ["topic"],
      buckets: [0.1, 1],
      registers: [registry],
    });
    counter.inc({ topic: "baton.requests" }, 3);
    histogram.observe({ topic: "baton.requests" }, 0.5);

    const samples = parsePrometheusText(await registry.metrics());

    expect(samples).toContainEqual({
      name: "baton_messages_in_total",
      labels: { topic: "baton.requests", stage: "planner" },
      value: 3,
    });
    expect(samples.filter((sample) => sample.name === "baton_processing_seconds_bucket")).toEqual([
      {
        name: "baton_processing_seconds_bucket",
        labels: { le: "0.1", topic: "baton.requests", stage: "planner" },
        value: 0,
      },
      {
        name: "baton_processing_seconds_bucket",
        labels: { le: "1", topic: "baton.requests", stage: "planner" },
        value: 1,
      },
      {
        name: "baton_processing_seconds_bucket",
        labels: { le: "+Inf", topic: "baton.requests", stage: "planner" },
        value: 1,
      },
    ]);
  });

  it("unescapes label values, reads special values and ignores timestamps, comments and blank lines", () => {
    const text = [
      "# HELP x A metric",
      "# TYPE x gauge",
      "",
      'x{path="C:\\\\dir",quote="say \\"hi\\"",line="a\\nb"} 1.5 1712345678000',
      "up 1",
      "y +Inf",
      "z{} NaN",
      'w{a="1",} -Inf',
    ].join("\n");
    const samples = parsePrometheusText(text);
    expect(samples[0]).toEqual({
      name: "x",
      labels: { path: "C:\\dir", quote: 'say "hi"', line: "a\nb" },
      value: 1.5,
    });
    expect(samples.slice(1, 3)).toEqual([
      { name: "up", labels: {}, value: 1 },
      { name: "y", labels: {}, value: Number.POSITIVE_INFINITY },
    ]);
    expect(samples[3]?.value).toBeNaN();
    expect(samples[4]).toEqual({ name: "w", labels: { a: "1" }, value: Number.NEGATIVE_INFINITY });
  });

  it("names the line of a malformed sample", () => {
    expect(() => parsePrometheusText('ok 1\nbad{topic="x} 1')).toThrow(/line 2: unterminated value of label topic/);
    expect(() => parsePrometheusText("{} 1")).toThrow(/line 1: expected a metric name/);
  });

  it("reports the families declared with # TYPE, so a labelled gauge with no value set is still seen", async () => {
    const registry = new Registry();
    const owned = new Gauge({
      name: "baton_owned_partitions",
      help: "owned",
      labelNames: ["partition"],
      registers: [registry],
    });
    owned.set({ partition: "3" }, 1);
    owned.reset();

    const exposition = parsePrometheusExposition(await registry.metrics());

    expect(exposition.samples).toEqual([]);
    expect(exposition.types).toEqual({ baton_owned_partitions: "gauge" });
  });
});
