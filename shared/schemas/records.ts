/**
 * TypeScript shapes of the Avro records in schemas/*.avsc, kept in one place.
 * schemas/records.test.ts checks each one against its .avsc so the two cannot drift apart.
 */

/** baton.Request: the front door (schemas/request.avsc). */
export interface Request {
  requestId: string;
  tenant: string;
  input: string;
  workflow: string | null;
  metadata: Record<string, string>;
  /** Epoch milliseconds. */
  submittedAt: number;
}

/** baton.ResponseStatus. */
export type ResponseStatus = "ANSWERED" | "REFUSED" | "FAILED";

/** baton.StepSummary: one tool step as the caller sees it. */
export interface StepSummary {
  stepId: string;
  tool: string;
  status: string;
  attempts: number;
  durationMs: number;
}

/** baton.Response: the one outcome of a request (schemas/response.avsc). */
export interface Response {
  requestId: string;
  status: ResponseStatus;
  answer: string | null;
  steps: StepSummary[];
  error: string | null;
  /** Epoch milliseconds. */
  completedAt: number;
}

/** Maps each record's Avro full name to its TypeScript shape. */
export interface RecordTypes {
  "baton.Request": Request;
  "baton.Response": Response;
}

/** Avro full names of the records Baton ships. */
export type RecordName = keyof RecordTypes;
