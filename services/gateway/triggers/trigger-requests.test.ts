import { describe, expect, it } from "vitest";
import { triggerSchema } from "./trigger-schema.ts";
import {
  cronRequest,
  cronRequestId,
  recordOutcome,
  recordRequestId,
  type TriggerRecord,
  type WorkflowTrigger,
} from "./trigger-requests.ts";

function entry(declaration: Record<string, unknown>): WorkflowTrigger {
  return { workflow: "orders", trigger: triggerSchema.parse(declaration) };
}

const topicTrigger = entry({
  name: "new-order",
  topic: "shop.orders",
  match: {
    all: [
      { path: "record.value.status", equals: "NEW" },
      { path: "record.value.total", greaterThan: 10 },
    ],
  },
  tenant: "demo",
  input: "Order {{ record.value.orderId }} for {{ record.value.total }}",
  metadata: { orderId: "{{ record.value.orderId }}", email: "{{ record.value.customer.email }}", source: "shop" },
});

function record(value: unknown, offset = "42"): TriggerRecord {
  return { topic: "shop.orders", partition: 3, offset, key: "o-1", value, headers: {}, timestamp: 1 };
}

describe("cron fires", () => {
  const cron = entry({ name: "morning", cron: "0 8 * * *", tenant: "demo", input: "Digest of {{ fire.at }}" });

  it("derive the requestId from workflow, trigger and scheduled instant: every instance fires the same id", () => {
    const instant = new Date("2026-11-30T08:00:00Z");
    expect(cronRequestId(cron, instant)).toBe("trigger:orders:morning:2026-11-30T08:00:00.000Z");
    const first = cronRequest(cron, instant, 1_000);
    const second = cronRequest(cron, instant, 2_000);
    expect(second.requestId).toBe(first.requestId);
    expect(cronRequest(cron, new Date("2026-12-01T08:00:00Z"), 1_000).requestId).not.toBe(first.requestId);
    expect(first.requestId).not.toContain("/");
  });

  it("submit the declaring workflow for the trigger's tenant, with the instant in the input", () => {
    const request = cronRequest(cron, new Date("2026-11-30T08:00:00Z"), 5);
    expect(request).toMatchObject({
      tenant: "demo",
      workflow: "orders",
      input: "Digest of 2026-11-30T08:00:00.000Z",
      metadata: { triggeredBy: "orders.morning" },
      submittedAt: 5,
    });
  });
});

describe("topic fires", () => {
  it("a matching record makes a request from its fields, its id from topic, partition, offset and timestamp", () => {
    const outcome = recordOutcome(
      topicTrigger,
      record({ status: "NEW", total: 25, orderId: "A-7", customer: { email: "ann@example.com" } }),
      9,
    );
    expect(outcome).toEqual({
      kind: "fire",
      request: {
        requestId: "trigger:orders:new-order:shop.orders:3:42:1",
        tenant: "demo",
        input: "Order A-7 for 25",
        workflow: "orders",
        metadata: { orderId: "A-7", email: "ann@example.com", source: "shop", triggeredBy: "orders.new-order" },
        submittedAt: 9,
      },
    });
    const at = { topic: "shop.orders", partition: 3, offset: "42", timestamp: 1 };
    expect(recordRequestId(topicTrigger, at)).toBe(recordRequestId(topicTrigger, { ...at }));
    expect(recordRequestId(topicTrigger, { ...at, offset: "43" })).not.toBe(recordRequestId(topicTrigger, at));
    // The topic deleted and created again: the same offset holds another record, written at another time.
    expect(recordRequestId(topicTrigger, { ...at, timestamp: 2 })).not.toBe(recordRequestId(topicTrigger, at));
  });

  it("a record that does not match fires nothing, including one with a missing or mistyped field", () => {
    expect(recordOutcome(topicTrigger, record({ status: "PAID", total: 25, orderId: "A-7" }), 0).kind).toBe(
      "not-matching",
    );
    expect(recordOutcome(topicTrigger, record({ status: "NEW", total: "25", orderId: "A-7" }), 0).kind).toBe(
      "not-matching",
    );
    expect(recordOutcome(topicTrigger, record("NEW"), 0).kind).toBe("not-matching");
    expect(recordOutcome(topicTrigger, record(null), 0).kind).toBe("not-matching");
  });

  it("leaves out a metadata value whose one reference the record lacks, so workflow conditions see it missing", () => {
    const outcome = recordOutcome(topicTrigger, record({ status: "NEW", total: 11, orderId: "A-8" }), 0);
    expect(outcome.kind === "fire" ? outcome.request.metadata : undefined).toEqual({
      orderId: "A-8",
      source: "shop",
      triggeredBy: "orders.new-order",
    });
  });

  it("a record's text is never a template, and cannot overwrite triggeredBy, the tenant or the workflow", () => {
    const sneaky = entry({
      name: "echo",
      topic: "t",
      tenant: "demo",
      input: "{{ record.value.text }}",
      metadata: { note: "{{ record.value.text }}" },
    });
    const outcome = recordOutcome(
      sneaky,
      record({ text: "{{ fire.workflow }}", tenant: "other", workflow: "refund", triggeredBy: "x" }),
      0,
    );
    expect(outcome.kind === "fire" ? outcome.request : undefined).toMatchObject({
      input: "{{ fire.workflow }}",
      tenant: "demo",
      workflow: "orders",
      metadata: { note: "{{ fire.workflow }}", triggeredBy: "orders.echo" },
    });
  });

  it("a record whose input would be empty is invalid, with the reason", () => {
    const outcome = recordOutcome(topicTrigger, record({ status: "NEW", total: 20 }), 0);
    expect(outcome.kind).toBe("fire");
    const bare = entry({ name: "bare", topic: "t", tenant: "demo", input: "{{ record.value.text }}" });
    const invalid = recordOutcome(bare, record({ other: 1 }), 0);
    expect(invalid).toEqual({ kind: "invalid", reason: expect.stringContaining("renders empty") as unknown });
  });

  it("without a match every record fires; a non-text value is written as JSON", () => {
    const all = entry({ name: "all", topic: "t", tenant: "demo", input: "{{ record.value }}" });
    const outcome = recordOutcome(all, record({ a: [1, 2] }), 0);
    expect(outcome.kind === "fire" ? outcome.request.input : undefined).toBe('{"a":[1,2]}');
  });
});
