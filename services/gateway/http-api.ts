import { z } from "zod";
import type { FollowedEvent } from "../../shared/kafka/event-feed.ts";
import type { Response } from "../../shared/schemas/records.ts";

/** A requestId the API accepts: what a Kafka key and a URL path segment carry safely. */
export const requestIdSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9._:~@-]+$/, "letters, digits and . _ : ~ @ - only")
  .describe("One run and one response per id; also the Kafka key");

/** The body of `POST /v1/requests`: the fields of baton.Request, the id optional, the time the gateway's. */
export const submitBodySchema = z
  .strictObject({
    requestId: requestIdSchema.optional(),
    tenant: z.string().min(1).max(200).describe("Whose policy applies"),
    input: z.string().min(1).max(100_000).describe("What the user asked"),
    workflow: z
      .string()
      .min(1)
      .max(200)
      .nullable()
      .default(null)
      .describe("A workflow to run; null lets the planner choose"),
    metadata: z
      .record(z.string(), z.string())
      .default({})
      .describe("Context for workflows (customerEmail, orderId, …)"),
  })
  .meta({ id: "SubmitRequest" });

/** The headers `POST /v1/requests` reads. */
export const submitHeadersSchema = z.object({
  "idempotency-key": requestIdSchema
    .optional()
    .describe("Becomes the requestId: a POST retried with the same key is one run"),
});

/** What `POST /v1/requests` answers: where to follow the request. */
export const acceptedSchema = z
  .object({
    requestId: z.string(),
    status: z.literal("ACCEPTED"),
    links: z.object({ self: z.string(), events: z.string() }),
  })
  .meta({ id: "Accepted" });

/** One step of a request as the API shows it. */
export const stepViewSchema = z.object({
  stepId: z.string(),
  tool: z.string(),
  status: z
    .string()
    .describe(
      "PLANNED, ALLOWED, WAITING_FOR_APPROVAL, APPROVED, REJECTED, RUNNING, RETRYING, then SUCCEEDED, FAILED, TIMED_OUT, DENIED or SKIPPED",
    ),
  attempts: z.number().int(),
  durationMs: z.number().int().nullable(),
});

/** baton.Response as JSON (schemas/response.avsc). */
export const responseSchema = z
  .object({
    requestId: z.string(),
    status: z.enum(["ANSWERED", "REFUSED", "FAILED"]),
    answer: z.string().nullable(),
    steps: z.array(
      z.object({
        stepId: z.string(),
        tool: z.string(),
        status: z.string(),
        attempts: z.number().int(),
        durationMs: z.number().int(),
      }),
    ),
    error: z.string().nullable(),
    completedAt: z.number().int(),
  })
  .meta({ id: "Response" });

/** What `GET /v1/requests/{id}` answers. */
export const requestStatusSchema = z
  .object({
    requestId: z.string(),
    status: z.enum(["ACCEPTED", "RUNNING", "ANSWERED", "REFUSED", "FAILED"]),
    tenant: z.string(),
    input: z.string(),
    workflow: z.string().nullable(),
    submittedAt: z.number().int(),
    steps: z.array(stepViewSchema),
    response: responseSchema.nullable(),
  })
  .meta({ id: "RequestStatus" });

/** The data of one Server-Sent Event: a baton.Event, its id, and the response parsed on the last one. */
export const eventViewSchema = z
  .object({
    id: z.string().describe("<partition>-<offset> on baton.events; send it back as Last-Event-ID to resume"),
    type: z.string(),
    requestId: z.string(),
    stepId: z.string().nullable(),
    tool: z.string().nullable(),
    status: z.string().nullable(),
    attempt: z.number().int().nullable(),
    detail: z.string().nullable(),
    text: z.string().nullable(),
    sequence: z.number().int().nullable(),
    at: z.number().int(),
    response: responseSchema.nullable(),
  })
  .meta({ id: "Event" });

/** One bad field of a request: where (`body`, `headers`, `params`), which, and what is wrong. */
export interface InvalidField {
  in: string;
  field: string;
  message: string;
}

/** An RFC 9457 problem document (application/problem+json). */
export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    errors: z.array(z.object({ in: z.string(), field: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: "Problem" });

/** A problem document's body. */
export type Problem = z.output<typeof problemSchema>;

/** The media type of problem documents. */
export const problemContentType = "application/problem+json";

/** A problem document; `type` is a relative URI naming the kind of problem. */
export function problem(
  status: number,
  kind: string,
  title: string,
  detail: string,
  extra: { instance?: string; errors?: InvalidField[] } = {},
): Problem {
  return { type: `/problems/${kind}`, title, status, detail, ...extra };
}

/** The response a RESPONSE event carries, when it is one (a topic anyone may write: checked, never trusted). */
export function responseOf(json: string | null): Response | null {
  if (json === null) return null;
  try {
    const parsed = responseSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** An event as the API sends it. */
export function eventView(followed: FollowedEvent): z.output<typeof eventViewSchema> {
  const { event } = followed;
  return {
    id: followed.id,
    type: event.type,
    requestId: event.requestId,
    stepId: event.stepId,
    tool: event.tool,
    status: event.status,
    attempt: event.attempt,
    detail: event.detail,
    text: event.text,
    sequence: event.sequence,
    at: event.at,
    response: event.type === "RESPONSE" ? responseOf(event.response) : null,
  };
}
