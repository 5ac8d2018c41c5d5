import { describe, expect, it } from "vitest";
import { triggerSchema } from "../services/gateway/triggers/trigger-schema.ts";
import { formatTriggers, summarizeTriggers } from "./triggers-view.ts";

describe("baton triggers --list", () => {
  const entries = [
    {
      workflow: "digest",
      trigger: triggerSchema.parse({
        name: "morning",
        cron: "0 8 * * *",
        timezone: "Europe/Berlin",
        tenant: "demo",
        input: "x",
      }),
    },
    {
      workflow: "orders",
      trigger: triggerSchema.parse({
        name: "new-order",
        topic: "shop.orders",
        match: { path: "record.value.status", equals: "NEW" },
        tenant: "acme",
        input: "x",
      }),
    },
  ];

  it("shows each trigger with its next cron instants in its time zone", () => {
    const summaries = summarizeTriggers(entries, new Date("2026-11-30T09:00:00Z"), 2);
    expect(summaries[0]).toMatchObject({
      trigger: "digest.morning",
      kind: "cron",
      next: ["2026-12-01T07:00:00.000Z", "2026-12-02T07:00:00.000Z"],
      detail: "catch-up: latest 1 missed within 3600 s",
    });
    expect(summaries[1]).toMatchObject({ trigger: "orders.new-order", kind: "topic", source: "shop.orders (json)" });
    expect(formatTriggers(summaries)).toEqual([
      "digest.morning  cron 0 8 * * * (Europe/Berlin)  tenant demo  catch-up: latest 1 missed within 3600 s",
      "  next: 2026-12-01T07:00:00.000Z, 2026-12-02T07:00:00.000Z",
      "orders.new-order  topic shop.orders (json)  tenant acme  records that match",
    ]);
  });

  it("says so when there are none", () => {
    expect(formatTriggers([])).toEqual(["no workflow declares triggers"]);
  });
});
