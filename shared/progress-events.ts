import type { OutgoingMessage } from "./kafka/producer.ts";
import type {
  ApprovalRequest,
  Event,
  EventType,
  PolicyDecision,
  Response,
  ToolCall,
  ToolResult,
} from "./schemas/records.ts";

/** The topic of every request's progress, keyed by requestId and co-partitioned with the requests. */
export const eventsTopic = "baton.events";

/** An event with every optional field empty. */
export function progressEvent(
  requestId: string,
  type: EventType,
  at: number,
  fields: Partial<Omit<Event, "requestId" | "type" | "at">> = {},
): Event {
  return {
    requestId,
    type,
    stepId: null,
    tool: null,
    status: null,
    attempt: null,
    detail: null,
    text: null,
    sequence: null,
    response: null,
    at,
    ...fields,
  };
}

/** The event an outgoing message of a stage stands for, if it tells of progress. */
function eventOf(message: OutgoingMessage, at: number): Event | undefined {
  switch (message.topic) {
    case "baton.tool-calls": {
      const call = message.value as ToolCall;
      return progressEvent(call.requestId, "PLANNED", at, {
        stepId: call.stepId,
        tool: call.tool,
        attempt: call.attempt,
      });
    }
    case "baton.allowed-calls": {
      const call = message.value as ToolCall;
      return progressEvent(call.requestId, "ALLOWED", at, { stepId: call.stepId, tool: call.tool });
    }
    case "baton.approval-requests": {
      const waiting = message.value as ApprovalRequest;
      return progressEvent(waiting.requestId, "WAITING_FOR_APPROVAL", at, {
        stepId: waiting.stepId,
        tool: waiting.tool,
        detail: `${waiting.ruleId}: ${waiting.reason}`,
      });
    }
    case "baton.tool-results": {
      const result = message.value as ToolResult;
      const fields = { stepId: result.stepId, tool: result.tool, detail: result.error };
      if (result.status === "DENIED") return progressEvent(result.requestId, "DENIED", at, fields);
      return progressEvent(result.requestId, "FINISHED", at, {
        ...fields,
        status: result.status,
        attempt: result.attempts,
      });
    }
    case "baton.policy-decisions": {
      const decision = message.value as PolicyDecision;
      if (decision.subject !== "APPROVAL" || (decision.action !== "APPROVED" && decision.action !== "REJECTED"))
        return undefined;
      return progressEvent(decision.requestId, decision.action, at, {
        stepId: decision.stepId,
        tool: decision.tool,
        detail: decision.reason,
      });
    }
    case "baton.responses": {
      const response = message.value as Response;
      return progressEvent(response.requestId, "RESPONSE", at, {
        status: response.status,
        text: response.answer,
        detail: response.error,
        response: JSON.stringify(response),
      });
    }
    default:
      return undefined;
  }
}

/** A person's decision comes before the call it lets run. */
const rank = (event: Event): number => (event.type === "APPROVED" || event.type === "REJECTED" ? 0 : 1);

/**
 * The baton.events messages telling of a stage's outgoing messages (a step planned, allowed, denied, waiting, decided
 * by a person, finished; the response), to be sent in the same transaction, so a reader sees only committed progress.
 */
export function progressEvents(messages: readonly OutgoingMessage[], at: number): OutgoingMessage[] {
  const events = messages.flatMap((message) => {
    const event = eventOf(message, at);
    return event === undefined ? [] : [event];
  });
  return events
    .map((event, index) => ({ event, index }))
    .sort((a, b) => rank(a.event) - rank(b.event) || a.index - b.index)
    .map(({ event }) => ({ topic: eventsTopic, key: event.requestId, value: event }));
}

/** A stage outcome with the events of its messages added after them. */
export function withProgressEvents<O extends { messages: OutgoingMessage[] }>(outcome: O, at: number): O {
  return { ...outcome, messages: [...outcome.messages, ...progressEvents(outcome.messages, at)] };
}
