import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import Fastify, { type FastifyReply } from "fastify";
import fastifySwagger from "@fastify/swagger";
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import { z } from "zod";
import { BatonError } from "../../shared/errors.ts";
import { parseEventId, type EventPosition } from "../../shared/kafka/event-feed.ts";
import type { Request } from "../../shared/schemas/records.ts";
import type { Logger } from "../../shared/telemetry/logger.ts";
import type { GatewayBackend, RequestLocation } from "./backend.ts";
import {
  acceptedSchema,
  eventView,
  problem,
  problemContentType,
  problemSchema,
  requestIdSchema,
  requestStatusSchema,
  submitBodySchema,
  submitHeadersSchema,
  type InvalidField,
  type Problem,
} from "./http-api.ts";
import { requestStatus } from "./request-status.ts";

/** Handles a request to `/mcp` (the MCP server's Streamable HTTP transport); `body` is the parsed JSON, if any. */
export type McpHttpHandler = (req: IncomingMessage, res: ServerResponse, body: unknown) => Promise<void>;

/** Options of {@link buildHttpServer}. */
export interface HttpServerOptions {
  backend: GatewayBackend;
  logger: Logger;
  /** Mounted at `/mcp` when given; `/mcp` answers 404 otherwise. */
  mcp?: McpHttpHandler;
  /** Seconds a client is told to wait (Retry-After) when Kafka is unavailable. */
  retryAfterSeconds?: number;
  /** How often an idle event stream gets a comment line, so proxies keep it open. */
  keepAliveMs?: number;
  now?: () => number;
}

/** Kafka (or the registry behind it) cannot be reached: the client should try again later. */
function isUnavailable(error: unknown): boolean {
  return error instanceof BatonError && (error.code === "KAFKA_UNAVAILABLE" || error.code === "REGISTRY_UNAVAILABLE");
}

/** The bad fields of a failed validation, one per field (an unknown field named itself). */
function invalidFields(error: {
  validation: Array<{ instancePath: string; message?: string; keyword: string; params: unknown }>;
  validationContext?: string;
}): InvalidField[] {
  const where = error.validationContext ?? "body";
  return error.validation.flatMap((issue) => {
    const path = issue.instancePath.replace(/^\//, "").replaceAll("/", ".");
    const keys = (issue.params as { keys?: unknown }).keys;
    if (issue.keyword === "unrecognized_keys" && Array.isArray(keys))
      return keys.map((key) => ({
        in: where,
        field: path === "" ? String(key) : `${path}.${String(key)}`,
        message: "unknown field",
      }));
    return [{ in: where, field: path === "" ? "(whole)" : path, message: issue.message ?? issue.keyword }];
  });
}

function sendProblem(reply: FastifyReply, body: Problem): FastifyReply {
  return reply.code(body.status).type(problemContentType).send(body);
}

const byId = z.object({ requestId: requestIdSchema });

/**
 * The gateway's HTTP API on Fastify: requests in (`POST /v1/requests`), their state (`GET /v1/requests/{id}`), their
 * progress as Server-Sent Events from baton.events, resumable with `Last-Event-ID`, and the OpenAPI document made
 * from the zod schemas at `/openapi.json`. Bad input is a 400 problem document naming each field; Kafka unreachable
 * a 503 with Retry-After.
 */
export async function buildHttpServer(options: HttpServerOptions) {
  const { backend } = options;
  const now = options.now ?? Date.now;
  const retryAfter = String(options.retryAfterSeconds ?? 5);
  const app = Fastify({ loggerInstance: options.logger, disableRequestLogging: true, bodyLimit: 1024 * 1024 });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((error, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const errors = invalidFields(error);
      const named = errors.map((field) => field.field).join(", ");
      return sendProblem(
        reply,
        problem(
          400,
          "invalid-request",
          "The request is not valid",
          `bad ${error.validationContext ?? "body"}: ${named}`,
          {
            instance: request.url,
            errors,
          },
        ),
      );
    }
    if (isUnavailable(error)) {
      reply.header("retry-after", retryAfter);
      return sendProblem(
        reply,
        problem(503, "unavailable", "Kafka is unavailable", (error as Error).message, { instance: request.url }),
      );
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500)
      return sendProblem(reply, problem(status, "bad-request", "The request cannot be read", (error as Error).message));
    request.log.error({ err: error, url: request.url }, "request failed");
    return sendProblem(reply, problem(500, "internal", "Internal error", "the gateway failed; see its log"));
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, problem(404, "not-found", "No such route", `${request.method} ${request.url}`)),
  );

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Baton gateway",
        description: "Submit requests to Baton's pipeline and follow their progress.",
        version: "1.0.0",
      },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });

  const api = app.withTypeProvider<ZodTypeProvider>();
  const notFound = (reply: FastifyReply, requestId: string): FastifyReply =>
    sendProblem(
      reply,
      problem(404, "unknown-request", "Unknown request", `no request ${requestId} on baton.requests`, {
        instance: `/v1/requests/${requestId}`,
      }),
    );
  const links = (requestId: string) => ({
    self: `/v1/requests/${encodeURIComponent(requestId)}`,
    events: `/v1/requests/${encodeURIComponent(requestId)}/events`,
  });

  api.post(
    "/v1/requests",
    {
      schema: {
        summary: "Submit a request",
        description:
          "Produces a baton.Request. An Idempotency-Key header becomes the requestId, so a retried POST is one run; " +
          "the same id with a different request is a 409.",
        headers: submitHeadersSchema,
        body: submitBodySchema,
        response: { 202: acceptedSchema, 400: problemSchema, 409: problemSchema, 503: problemSchema },
      },
    },
    async (request, reply) => {
      const { body } = request;
      const key = request.headers["idempotency-key"];
      if (key !== undefined && body.requestId !== undefined && key !== body.requestId) {
        return sendProblem(
          reply,
          problem(400, "invalid-request", "The request is not valid", "Idempotency-Key and requestId differ", {
            errors: [
              { in: "headers", field: "idempotency-key", message: `differs from the body's requestId` },
              { in: "body", field: "requestId", message: `differs from the Idempotency-Key header` },
            ],
          }),
        );
      }
      const chosen = key ?? body.requestId;
      const submitted: Request = {
        requestId: chosen ?? randomUUID(),
        tenant: body.tenant,
        input: body.input,
        workflow: body.workflow,
        metadata: body.metadata,
        submittedAt: now(),
      };
      if (chosen !== undefined) {
        const existing = await backend.locate(chosen);
        if (existing !== undefined) {
          if (!sameRequest(existing.request, submitted)) {
            return sendProblem(
              reply,
              problem(409, "conflict", "The requestId is taken", `request ${chosen} was submitted with other fields`, {
                instance: links(chosen).self,
              }),
            );
          }
          reply.header("idempotent-replayed", "true");
          return reply.code(202).send({ requestId: chosen, status: "ACCEPTED" as const, links: links(chosen) });
        }
      }
      await backend.submit(submitted);
      reply.header("location", links(submitted.requestId).self);
      return reply
        .code(202)
        .send({ requestId: submitted.requestId, status: "ACCEPTED" as const, links: links(submitted.requestId) });
    },
  );

  api.get(
    "/v1/requests/:requestId",
    {
      schema: {
        summary: "A request's status, steps and response",
        params: byId,
        response: { 200: requestStatusSchema, 404: problemSchema, 503: problemSchema },
      },
    },
    async (request, reply) => {
      const location = await backend.locate(request.params.requestId);
      if (location === undefined) return notFound(reply, request.params.requestId);
      return reply.send(requestStatus(location.request, await backend.read(location)));
    },
  );

  api.get(
    "/v1/requests/:requestId/events",
    {
      schema: {
        summary: "A request's progress as Server-Sent Events",
        description:
          "text/event-stream of baton.events: each event's `id` is `<partition>-<offset>` and its data an Event " +
          "(JSON); the stream ends after the RESPONSE event. Reconnect with Last-Event-ID to get only what was missed.",
        params: byId,
        headers: z.object({ "last-event-id": z.string().max(40).optional() }),
      },
    },
    async (request, reply) => {
      const header = request.headers["last-event-id"];
      const after = header === undefined || header === "" ? undefined : parseEventId(header);
      if (header !== undefined && header !== "" && after === undefined) {
        return sendProblem(
          reply,
          problem(400, "invalid-request", "The request is not valid", "Last-Event-ID is not an event id", {
            errors: [
              { in: "headers", field: "last-event-id", message: "expected <partition>-<offset>, as sent in id:" },
            ],
          }),
        );
      }
      const location = await backend.locate(request.params.requestId);
      if (location === undefined) return notFound(reply, request.params.requestId);
      if (after !== undefined && after.partition !== location.partition) {
        return sendProblem(
          reply,
          problem(400, "invalid-request", "The request is not valid", "Last-Event-ID is not an event of this request", {
            errors: [{ in: "headers", field: "last-event-id", message: `not on partition ${location.partition}` }],
          }),
        );
      }
      reply.hijack();
      await streamEvents(backend, location, after, reply.raw, options.keepAliveMs ?? 15_000, options.logger);
    },
  );

  app.get("/openapi.json", { schema: { hide: true } }, () => app.swagger());
  app.get("/healthz", { schema: { hide: true } }, () => ({ status: "ok" }));

  app.all("/mcp", { schema: { hide: true } }, async (request, reply) => {
    if (options.mcp === undefined)
      return sendProblem(reply, problem(404, "not-found", "No MCP server here", "this gateway serves no /mcp"));
    reply.hijack();
    await options.mcp(request.raw, reply.raw, request.body);
  });
  return app;
}

/** Whether a request submitted again is the one submitted before (its time aside). */
function sameRequest(before: Request, again: Request): boolean {
  const entries = (metadata: Record<string, string>): string =>
    JSON.stringify(Object.entries(metadata).sort(([a], [b]) => a.localeCompare(b)));
  return (
    before.tenant === again.tenant &&
    before.input === again.input &&
    before.workflow === again.workflow &&
    entries(before.metadata) === entries(again.metadata)
  );
}

/** Writes a request's events as Server-Sent Events until its response, or until the client goes away. */
async function streamEvents(
  backend: GatewayBackend,
  location: RequestLocation,
  after: EventPosition | undefined,
  res: ServerResponse,
  keepAliveMs: number,
  logger: Logger,
): Promise<void> {
  const gone = new AbortController();
  res.on("close", () => gone.abort());
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.write("retry: 2000\n\n");
  const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), keepAliveMs);
  try {
    for await (const followed of backend.follow(location, {
      signal: gone.signal,
      ...(after === undefined ? {} : { after }),
    })) {
      res.write(`id: ${followed.id}\ndata: ${JSON.stringify(eventView(followed))}\n\n`);
    }
  } catch (error) {
    logger.warn({ err: error, requestId: location.request.requestId }, "event stream stopped");
    if (!gone.signal.aborted) {
      const failure = problem(503, "unavailable", "Kafka is unavailable", (error as Error).message);
      res.write(`event: error\ndata: ${JSON.stringify(failure)}\n\n`);
    }
  } finally {
    clearInterval(keepAlive);
    res.end();
  }
}
