import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { FaultInjector } from "../common/faults.ts";
import type { Logger } from "../common/logger.ts";
import { toolError, toolResult } from "../common/tool-result.ts";
import { prioritySchema, refundSchema, ticketSchema, type TicketStore } from "./ticket-store.ts";

/** Input of `create_ticket`. */
export const createTicketInputSchema = z.object({
  subject: z.string().trim().min(1).max(200).describe("One-line summary of the customer's problem"),
  body: z.string().trim().min(1).max(10_000).describe("What happened and what the customer asks for"),
  priority: prioritySchema.default("normal"),
  customer: z.string().trim().min(1).max(200).optional().describe("Who raised it, e.g. an email address"),
});

/** Output of `create_ticket`. */
export const createTicketOutputSchema = ticketSchema.pick({ ticketId: true, status: true, priority: true });

/** Input of `get_ticket`. */
export const getTicketInputSchema = z.object({
  ticketId: z.string().trim().min(1).max(40).describe('A ticket id such as "TCK-000123"'),
});

/** Input of `issue_refund`. */
export const issueRefundInputSchema = z.object({
  orderId: z.string().trim().min(1).max(64).describe('The order to refund, e.g. "1234"'),
  amount: z.number().positive().max(1_000_000).describe("Amount to refund, greater than zero"),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, "expected an ISO 4217 code such as EUR")
    .default("EUR"),
});

/** Output of `issue_refund`. */
export const issueRefundOutputSchema = refundSchema.omit({ issuedAt: true });

/** Dependencies of {@link createTicketingServer}. */
export interface TicketingServerOptions {
  store: TicketStore;
  faults: FaultInjector;
  logger: Logger;
}

/** An MCP server exposing `create_ticket`, `get_ticket` and `issue_refund` over a {@link TicketStore}. */
export function createTicketingServer(options: TicketingServerOptions): McpServer {
  const { store, faults, logger } = options;
  const server = new McpServer({ name: "baton-ticketing", version: "0.1.0" });

  server.registerTool(
    "create_ticket",
    {
      title: "Create a support ticket",
      description: "Opens a support ticket for a person to handle. Every call opens a new ticket.",
      inputSchema: createTicketInputSchema,
      outputSchema: createTicketOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (input) =>
      faults.around("create_ticket", async () => {
        const ticket = await store.createTicket(input);
        logger.info({ tool: "create_ticket", ticketId: ticket.ticketId, priority: ticket.priority }, "ticket created");
        const created: z.output<typeof createTicketOutputSchema> = {
          ticketId: ticket.ticketId,
          status: ticket.status,
          priority: ticket.priority,
        };
        return toolResult(
          `Created ticket ${ticket.ticketId} (${ticket.priority} priority): ${ticket.subject}`,
          created,
        );
      }),
  );

  server.registerTool(
    "get_ticket",
    {
      title: "Get a support ticket",
      description: "Returns a ticket by id; an unknown id is a tool error.",
      inputSchema: getTicketInputSchema,
      outputSchema: ticketSchema,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ ticketId }) =>
      faults.around("get_ticket", async () => {
        const ticket = await store.findTicket(ticketId);
        if (ticket === undefined) return toolError(`No ticket has the id ${ticketId}.`);
        return toolResult(
          `Ticket ${ticket.ticketId} is ${ticket.status} (${ticket.priority}): ${ticket.subject}`,
          ticket,
        );
      }),
  );

  server.registerTool(
    "issue_refund",
    {
      title: "Issue a refund",
      description:
        "Refunds an amount for an order to the customer's original payment method. Every call issues a new refund.",
      inputSchema: issueRefundInputSchema,
      outputSchema: issueRefundOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    (input) =>
      faults.around("issue_refund", async () => {
        const refund = await store.issueRefund(input);
        logger.info({ tool: "issue_refund", refundId: refund.refundId, orderId: refund.orderId }, "refund issued");
        const issued: z.output<typeof issueRefundOutputSchema> = {
          refundId: refund.refundId,
          orderId: refund.orderId,
          amount: refund.amount,
          currency: refund.currency,
          status: refund.status,
        };
        return toolResult(
          `Issued refund ${refund.refundId} of ${refund.amount.toFixed(2)} ${refund.currency} for order ${refund.orderId}`,
          issued,
        );
      }),
  );

  return server;
}
