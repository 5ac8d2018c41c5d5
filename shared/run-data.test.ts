import { describe, it, expect } from "vitest";
import { templateData, type TemplateSource } from "./run-data.ts";
import { lookup, render } from "./templates.ts";

const source: TemplateSource = {
  requestId: "req-7",
  tenant: "demo",
  input: "my parcel is damaged",
  workflow: "customer-support",
  metadata: { customerEmail: "ana@example.com" },
  steps: [
    { stepId: "search", status: "SUCCEEDED", output: '{"found":false,"hits":0}', error: null },
    { stepId: "ticket", status: "FAILED", output: null, error: "ticketing is down" },
    { stepId: "echo", status: "SUCCEEDED", output: "plain text, not JSON", error: null },
  ],
};

describe("templateData", () => {
  it("exposes the request under request.*", () => {
    const data = templateData(source);
    expect(lookup(data, "request.requestId")).toBe("req-7");
    expect(lookup(data, "request.tenant")).toBe("demo");
    expect(lookup(data, "request.input")).toBe("my parcel is damaged");
    expect(lookup(data, "request.workflow")).toBe("customer-support");
    expect(lookup(data, "request.metadata.customerEmail")).toBe("ana@example.com");
  });

  it("parses a step's JSON output so templates can read its fields with their types", () => {
    const data = templateData(source);
    expect(lookup(data, "steps.search.output.found")).toBe(false);
    expect(render("{{ steps.search.output.hits }}", data)).toBe(0);
    expect(lookup(data, "steps.search.status")).toBe("SUCCEEDED");
  });

  it("keeps an output that is not JSON as text, and a missing output as null", () => {
    const data = templateData(source);
    expect(lookup(data, "steps.echo.output")).toBe("plain text, not JSON");
    expect(lookup(data, "steps.ticket.output")).toBeNull();
  });

  it("exposes a failed step's status and error", () => {
    const data = templateData(source);
    expect(lookup(data, "steps.ticket.status")).toBe("FAILED");
    expect(lookup(data, "steps.ticket.error")).toBe("ticketing is down");
  });

  it("gives empty metadata when the source has none, so metadata references are simply missing", () => {
    const { metadata: _metadata, ...withoutMetadata } = source;
    const data = templateData(withoutMetadata);
    expect(lookup(data, "request.metadata")).toEqual({});
    expect(lookup(data, "request.metadata.customerEmail")).toBeUndefined();
  });
});
