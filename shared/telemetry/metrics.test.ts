import { describe, expect, it } from "vitest";
import { StageMetrics } from "./metrics.ts";
import type { SpanExportSnapshot } from "./span-export-counts.ts";

function snapshot(exported: number, exportFailed: number, queued: number): SpanExportSnapshot {
  return { exported, queued, dropped: { queue_full: 1, export_failed: exportFailed, shutdown_timeout: 0 } };
}

describe("StageMetrics", () => {
  it("shows the spans tracing exported and dropped, as counters that follow the process's totals", async () => {
    const metrics = new StageMetrics("executor");
    let current = snapshot(10, 3, 7);
    metrics.trackSpanExport(() => current);
    let text = await metrics.registry.metrics();
    expect(text).toContain('baton_spans_exported_total{stage="executor"} 10');
    expect(text).toContain('baton_spans_dropped_total{reason="export_failed",stage="executor"} 3');
    expect(text).toContain('baton_spans_dropped_total{reason="queue_full",stage="executor"} 1');
    expect(text).toContain('baton_spans_queued{stage="executor"} 7');
    current = snapshot(12, 8, 0);
    text = await metrics.registry.metrics();
    expect(text).toContain('baton_spans_exported_total{stage="executor"} 12');
    expect(text).toContain('baton_spans_dropped_total{reason="export_failed",stage="executor"} 8');
  });

  it("counts language-model tokens by tenant, model and type", async () => {
    const metrics = new StageMetrics("planner");
    metrics.countLlmUsage({ tenant: "acme", provider: "openai", model: "gpt-x", inputTokens: 120, outputTokens: 30 });
    metrics.countLlmUsage({ tenant: "acme", provider: "openai", model: "gpt-x", inputTokens: 80, outputTokens: 5 });
    const text = await metrics.registry.metrics();
    expect(text).toContain('baton_llm_tokens_total{tenant="acme",model="gpt-x",type="input",stage="planner"} 200');
    expect(text).toContain('baton_llm_tokens_total{tenant="acme",model="gpt-x",type="output",stage="planner"} 35');
  });
});
