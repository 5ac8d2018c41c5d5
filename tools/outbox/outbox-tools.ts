import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { FaultInjector } from "../common/faults.ts";
import { JsonlFile } from "../common/jsonl-file.ts";
import type { Logger } from "../common/logger.ts";
import { toolError, toolResult } from "../common/tool-result.ts";

/** An email as recorded, one per line of `outbox.jsonl`. */
export const sentEmailSchema = z.object({
  messageId: z.string(),
  to: z.string(),
  subject: z.string(),
  body: z.string(),
  idempotencyKey: z.string().optional(),
  acceptedAt: z.string(),
});

/** A recorded email. */
export type SentEmail = z.output<typeof sentEmailSchema>;

/** Input of `send_email`. */
export const sendEmailInputSchema = z.object({
  to: z.email().max(254).describe("Recipient address"),
  subject: z.string().trim().min(1).max(200),
  body: z.string().trim().min(1).max(100_000),
  idempotencyKey: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe("Recorded with the message for tracing; the outbox does not deduplicate on it"),
});

/** Output of `send_email`. */
export const sendEmailOutputSchema = sentEmailSchema.pick({ messageId: true, to: true, acceptedAt: true });

/** Input of `list_sent`. */
export const listSentInputSchema = z.object({
  to: z.string().trim().min(1).optional().describe("Only messages to this address (case-insensitive)"),
});

/** Output of `list_sent`. */
export const listSentOutputSchema = z.object({ messages: z.array(sentEmailSchema).describe("Oldest first") });

/** Dependencies of {@link createOutboxServer}. */
export interface OutboxServerOptions {
  dataDir: string;
  faults: FaultInjector;
  logger: Logger;
}

/** The outbox file in a data directory. */
export function outboxFile(dataDir: string): JsonlFile<typeof sentEmailSchema> {
  return new JsonlFile(join(dataDir, "outbox.jsonl"), sentEmailSchema);
}

/**
 * An MCP server exposing `send_email` and `list_sent`. Sending appends every call to `outbox.jsonl`, never
 * deduplicating: calling once is the caller's job, and the file is how tests count emails.
 */
export function createOutboxServer(options: OutboxServerOptions): McpServer {
  const { faults, logger } = options;
  const outbox = outboxFile(options.dataDir);
  const server = new McpServer({ name: "baton-outbox", version: "0.1.0" });

  server.registerTool(
    "send_email",
    {
      title: "Send an email",
      description:
        "Sends an email to a customer. Every call sends one email, even with a repeated idempotencyKey. " +
        "Addresses in the reserved .invalid top-level domain are undeliverable (a tool error).",
      inputSchema: sendEmailInputSchema,
      outputSchema: sendEmailOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    (input) =>
      faults.around("send_email", async () => {
        if (/\.invalid$/i.test(input.to))
          return toolError(`${input.to} is undeliverable: the .invalid domain accepts no mail.`);
        const email: SentEmail = {
          messageId: `MSG-${randomUUID()}`,
          to: input.to,
          subject: input.subject,
          body: input.body,
          ...(input.idempotencyKey === undefined ? {} : { idempotencyKey: input.idempotencyKey }),
          acceptedAt: new Date().toISOString(),
        };
        await outbox.append(email);
        logger.info(
          { tool: "send_email", messageId: email.messageId, idempotencyKey: email.idempotencyKey },
          "email sent",
        );
        const accepted: z.output<typeof sendEmailOutputSchema> = {
          messageId: email.messageId,
          to: email.to,
          acceptedAt: email.acceptedAt,
        };
        return toolResult(`Sent "${email.subject}" to ${email.to} as ${email.messageId}`, accepted);
      }),
  );

  server.registerTool(
    "list_sent",
    {
      title: "List sent emails",
      description: "Returns the emails sent so far, oldest first, optionally only those to one address.",
      inputSchema: listSentInputSchema,
      outputSchema: listSentOutputSchema,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ to }) =>
      faults.around("list_sent", async () => {
        const all = await outbox.readAll();
        const messages = to === undefined ? all : all.filter((email) => email.to.toLowerCase() === to.toLowerCase());
        return toolResult(`${messages.length} email(s) sent${to === undefined ? "" : ` to ${to}`}`, { messages });
      }),
  );

  return server;
}
