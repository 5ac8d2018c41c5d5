import { describe, expect, it } from "vitest";
import { BatonError } from "../../../shared/errors.ts";
import { parseWorkflow } from "../../planner/workflow-file.ts";

function workflowWith(triggers: string): string {
  return `name: digest
steps:
  - id: search
    tool: knowledge-base/search
    arguments: { query: "{{ request.input }}" }
triggers:
${triggers}`;
}

function problemsOf(triggers: string): string {
  try {
    parseWorkflow(workflowWith(triggers), "digest.yaml");
  } catch (error) {
    if (error instanceof BatonError && error.code === "CONFIG_INVALID") return error.message;
    throw error;
  }
  throw new Error("expected the workflow to be refused");
}

describe("a workflow's triggers", () => {
  it("accepts a cron trigger with a time zone and a topic trigger with a match, and the planner's view keeps them", () => {
    const workflow = parseWorkflow(
      workflowWith(`  - name: morning
    cron: "0 8 * * 1-5"
    timezone: Europe/Berlin
    tenant: demo
    input: "Digest for {{ fire.at }}"
  - name: new-order
    topic: shop.orders
    match: { path: record.value.status, equals: NEW }
    tenant: demo
    input: "Order {{ record.value.orderId }} is new"
    metadata: { orderId: "{{ record.value.orderId }}" }
`),
      "digest.yaml",
    );
    expect(workflow.triggers.map((trigger) => trigger.name)).toEqual(["morning", "new-order"]);
    expect(workflow.triggers[1]?.metadata).toEqual({ orderId: "{{ record.value.orderId }}" });
  });

  it("a workflow without triggers has none", () => {
    expect(parseWorkflow(workflowWith("  []"), "digest.yaml").triggers).toEqual([]);
  });

  it("names every bad key at once: a bad cron expression, an unknown time zone, a bad topic name, a missing tenant", () => {
    const message = problemsOf(`  - name: broken-cron
    cron: "61 * * * *"
    tenant: demo
    input: x
  - name: bad-zone
    cron: "0 8 * * *"
    timezone: Mars/Olympus
    tenant: demo
    input: x
  - name: bad-topic
    topic: "shop orders"
    tenant: demo
    input: x
  - name: no-tenant
    topic: shop.orders
    input: x
`);
    expect(message).toContain("digest.yaml");
    expect(message).toMatch(/triggers\.0\.cron: not a valid cron expression: .*minute/);
    expect(message).toContain("triggers.1.timezone: unknown time zone Mars/Olympus");
    expect(message).toContain("triggers.2.topic:");
    expect(message).toContain("triggers.3.tenant:");
  });

  it("checks the cron expression even when the time zone is also wrong", () => {
    const message = problemsOf(`  - { name: a, cron: "99 * * * *", timezone: Nowhere/Land, tenant: demo, input: x }`);
    expect(message).toContain("triggers.0.timezone: unknown time zone Nowhere/Land");
    expect(message).toContain("triggers.0.cron: not a valid cron expression");
  });

  it("refuses a trigger that is both or neither cron and topic, and keys of the other kind", () => {
    expect(problemsOf(`  - { name: both, cron: "* * * * *", topic: t, tenant: demo, input: x }`)).toContain(
      "triggers.0.cron: a trigger has either cron or topic",
    );
    expect(problemsOf(`  - { name: neither, tenant: demo, input: x }`)).toContain("a trigger has either cron or topic");
    const mixed = problemsOf(
      `  - { name: mixed, topic: t, timezone: UTC, catchUp: { last: 1, withinMs: 1000 }, tenant: demo, input: x }`,
    );
    expect(mixed).toContain("triggers.0.timezone: only a cron trigger has timezone");
    expect(mixed).toContain("triggers.0.catchUp: only a cron trigger has catchUp");
    expect(problemsOf(`  - { name: m, cron: "* * * * *", format: json, tenant: demo, input: x }`)).toContain(
      "triggers.0.format: only a topic trigger has format",
    );
  });

  it("refuses templates that read what a fire does not have, and matches on anything but the record", () => {
    const message = problemsOf(`  - name: cron-reads-record
    cron: "* * * * *"
    tenant: demo
    input: "{{ record.value.x }}"
    metadata: { who: "{{ request.metadata.x }}" }
  - name: topic-match
    topic: t
    match: { path: request.tenant, equals: demo }
    tenant: demo
    input: "{{ record.value.x }}"
`);
    expect(message).toContain("triggers.0.input: refers to record.value.x; a cron trigger's templates read fire.*");
    expect(message).toContain("triggers.0.metadata.who: refers to request.metadata.x");
    expect(message).toContain("triggers.1.match: reads request.tenant");
  });

  it("refuses two triggers of one name and a catch-up window past the replay retention", () => {
    const message = problemsOf(`  - { name: twice, cron: "* * * * *", tenant: demo, input: x }
  - { name: twice, cron: "0 * * * *", tenant: demo, input: x, catchUp: { last: 1, withinMs: 9999999999 } }
`);
    expect(message).toContain("triggers.1.catchUp.withinMs: at most the replay retention");
    const duplicate = problemsOf(`  - { name: twice, cron: "* * * * *", tenant: demo, input: x }
  - { name: twice, cron: "0 * * * *", tenant: demo, input: x }
`);
    expect(duplicate).toContain("trigger twice is declared twice");
  });
});
