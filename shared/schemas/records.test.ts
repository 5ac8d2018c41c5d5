import { describe, it, expect, beforeAll } from "vitest";
import type avro from "avsc";
import { readAvroFiles, type AvroFile } from "./avro-files.ts";
import type { RecordName, RecordTypes, Request, Response, ResponseStatus, StepSummary, ToolCall } from "./records.ts";
import { topics } from "../topics.ts";

const call = {
  requestId: "req-42",
  tenant: "acme",
  stepId: "refund",
  tool: "ticketing/issue_refund",
  arguments: '{"orderId":"1234","amount":120}',
  idempotencyKey: "req-42/refund",
  attempt: 1,
  timeoutMs: 30_000,
  dispatchedAt: 1_767_225_600_100,
  deadlineAt: 1_767_225_660_000,
  fallbackFor: null,
} satisfies ToolCall;

const step = {
  stepId: "step-1",
  tool: "search",
  status: "SUCCEEDED",
  attempts: 2,
  durationMs: 1234,
} satisfies StepSummary;

/** One sample per record; the mapped type makes the typecheck fail when a RecordName has no sample or a sample drifts from its interface. */
const samples: { [Name in RecordName]: RecordTypes[Name] } = {
  "baton.Request": {
    requestId: "req-42",
    tenant: "acme",
    input: "What is the weather in Lyon?",
    workflow: null,
    metadata: { channel: "slack", locale: "fr-FR" },
    submittedAt: 1_767_225_600_000,
  } satisfies Request,
  "baton.Response": {
    requestId: "req-42",
    status: "ANSWERED",
    answer: "Sunny, 21 °C.",
    steps: [step],
    error: null,
    completedAt: 1_767_225_601_500,
  } satisfies Response,
  "baton.ToolCall": call,
  "baton.ToolResult": {
    requestId: "req-42",
    stepId: "search",
    tool: "knowledge-base/search",
    status: "SUCCEEDED",
    output: '{"found":true}',
    error: null,
    attempts: 1,
    durationMs: 12,
    completedAt: 1_767_225_600_200,
    fallbackTool: null,
  },
  "baton.RunState": {
    requestId: "req-42",
    tenant: "acme",
    input: "Where is my order?",
    workflow: "customer-support",
    metadata: {},
    submittedAt: 1_767_225_600_000,
    status: "RUNNING",
    answerTemplate: null,
    steps: [
      {
        stepId: "search",
        tool: "knowledge-base/search",
        needs: [],
        condition: null,
        argumentsTemplate: '{"query":"{{ request.input }}"}',
        timeoutMs: 30_000,
        status: "DISPATCHED",
        output: null,
        error: null,
        attempts: 1,
        dispatchedAt: 1_767_225_600_100,
        durationMs: 0,
      },
    ],
    updatedAt: 1_767_225_600_100,
    deadlineAt: 1_767_225_900_000,
  },
  "baton.RunDeadline": { requestId: "req-42", deadlineAt: 1_767_225_900_000 },
  "baton.Event": {
    requestId: "req-42",
    type: "FINISHED",
    stepId: "search",
    tool: "knowledge-base/search",
    status: "SUCCEEDED",
    attempt: 1,
    detail: null,
    text: null,
    sequence: null,
    response: null,
    at: 1_767_225_600_200,
  },
  "baton.CompletedRun": {
    requestId: "req-42",
    tenant: "acme",
    input: "Where is my order?",
    workflow: null,
    metadata: {},
    outcome: "REFUSED",
    error: "unknown tenant acme",
    answerTemplate: null,
    steps: [
      {
        stepId: "search",
        tool: "knowledge-base/search",
        status: "SKIPPED",
        output: null,
        error: null,
        attempts: 0,
        durationMs: 0,
      },
    ],
    completedAt: 1_767_225_600_300,
  },
  "baton.Draft": {
    requestId: "req-42",
    tenant: "acme",
    status: "ANSWERED",
    answer: "Your order ships tomorrow.",
    steps: [step],
    error: null,
    completedAt: 1_767_225_600_400,
  },
  "baton.ApprovalRequest": {
    ...call,
    callDigest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ruleId: "refunds-need-approval",
    reason: "refunds over 100 EUR",
    requestedAt: 1_767_225_600_150,
  },
  "baton.ApprovalDecision": {
    ...call,
    callDigest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    approved: true,
    approver: "alice",
    comment: null,
    decidedAt: 1_767_225_600_500,
  },
  "baton.PolicyDecision": {
    requestId: "req-42",
    tenant: "acme",
    stepId: null,
    tool: null,
    subject: "ANSWER",
    action: "REDACT",
    ruleId: "pii-email",
    reason: "email address redacted",
    decidedAt: 1_767_225_600_450,
  },
  "baton.ToolCatalog": {
    server: "knowledge-base",
    transport: "stdio",
    tools: [{ name: "knowledge-base/search", description: "Search articles", inputSchema: '{"type":"object"}' }],
    updatedAt: 1_767_225_599_000,
  },
};

/** Every symbol of baton.ResponseStatus; the typecheck fails if the union gains or loses one. */
const responseStatuses = { ANSWERED: true, REFUSED: true, FAILED: true } satisfies Record<ResponseStatus, true>;

const names = Object.keys(samples) as RecordName[];

function recordFields(type: avro.Type): string[] {
  return (type as avro.types.RecordType).fields.map((field) => field.name).sort();
}

let files: Map<string, AvroFile>;

beforeAll(async () => {
  files = await readAvroFiles();
});

function fileOf(name: string): AvroFile {
  const file = files.get(name);
  if (file === undefined) throw new Error(`no .avsc in schemas/ defines ${name}`);
  return file;
}

describe("TypeScript records agree with schemas/*.avsc", () => {
  it("RecordName names exactly the records defined in schemas/", () => {
    expect([...names].sort()).toEqual([...files.keys()].sort());
  });

  it.each(names)("a %s typed in TypeScript is valid for its .avsc", (name) => {
    const { type } = fileOf(name);
    const errors: string[] = [];
    const valid = type.isValid(samples[name], { errorHook: (path) => errors.push(path.join(".")) });
    expect(errors).toEqual([]);
    expect(valid).toBe(true);
  });

  it.each(names)("%s has the same field names in TypeScript and in its .avsc", (name) => {
    expect(recordFields(fileOf(name).type)).toEqual(Object.keys(samples[name]).sort());
  });

  it.each(names)("a %s survives an Avro round trip unchanged", (name) => {
    const { type } = fileOf(name);
    const sample = samples[name];
    expect(type.fromBuffer(type.toBuffer(sample))).toEqual(sample);
  });

  it("a Request with every optional field set is valid and round-trips", () => {
    const { type } = fileOf("baton.Request");
    const full = { ...samples["baton.Request"], workflow: "weather-report" } satisfies Request;
    expect(type.isValid(full)).toBe(true);
    expect(type.fromBuffer(type.toBuffer(full))).toEqual(full);
  });

  it("a Response with no answer, no steps and an error is valid and round-trips", () => {
    const { type } = fileOf("baton.Response");
    const failed = {
      ...samples["baton.Response"],
      status: "FAILED",
      answer: null,
      steps: [],
      error: "tool timed out",
    } satisfies Response;
    expect(type.isValid(failed)).toBe(true);
    expect(type.fromBuffer(type.toBuffer(failed))).toEqual(failed);
  });

  it("baton.StepSummary has the same field names in TypeScript and in response.avsc", () => {
    const stepType = fileOf("baton.Response").type.schema() as { fields: { name: string; type: unknown }[] };
    const stepsField = stepType.fields.find((field) => field.name === "steps");
    const items = (stepsField?.type as { items?: { fields?: { name: string }[] } } | undefined)?.items;
    expect(items?.fields?.map((field) => field.name).sort()).toEqual(Object.keys(step).sort());
  });

  it("baton.ResponseStatus has the same symbols in TypeScript and in response.avsc", () => {
    const schema = fileOf("baton.Response").type.schema() as { fields: { name: string; type: unknown }[] };
    const status = schema.fields.find((field) => field.name === "status")?.type as { symbols?: string[] } | undefined;
    expect([...(status?.symbols ?? [])].sort()).toEqual(Object.keys(responseStatuses).sort());
  });

  it("a value that breaks the TypeScript shape is rejected by the .avsc", () => {
    const { type } = fileOf("baton.Response");
    expect(type.isValid({ ...samples["baton.Response"], status: "MAYBE" })).toBe(false);
    expect(type.isValid({ ...samples["baton.Response"], completedAt: "yesterday" })).toBe(false);
  });
});

describe("topics and records", () => {
  it("every topic's value record is defined in schemas/", () => {
    for (const topic of topics)
      expect(files.has(topic.valueRecord), `${topic.name} -> ${topic.valueRecord}`).toBe(true);
  });
});
