import { join } from "node:path";
import { z } from "zod";
import { withFileLock } from "../common/file-lock.ts";
import { JsonlFile } from "../common/jsonl-file.ts";

/** How urgent a ticket is. */
export const prioritySchema = z.enum(["low", "normal", "high"]);

/** A support ticket as stored, one per line of `tickets.jsonl`. */
export const ticketSchema = z.object({
  ticketId: z.string().regex(/^TCK-\d{6,}$/),
  subject: z.string(),
  body: z.string(),
  priority: prioritySchema,
  customer: z.string().optional(),
  status: z.enum(["open"]),
  createdAt: z.iso.datetime(),
});

/** A refund as stored, one per line of `refunds.jsonl`. */
export const refundSchema = z.object({
  refundId: z.string().regex(/^RFD-\d{6,}$/),
  orderId: z.string(),
  amount: z.number().positive(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  status: z.enum(["issued"]),
  issuedAt: z.iso.datetime(),
});

/** A stored ticket. */
export type Ticket = z.output<typeof ticketSchema>;
/** A stored refund. */
export type Refund = z.output<typeof refundSchema>;

/** What a new ticket needs. */
export type NewTicket = Pick<Ticket, "subject" | "body" | "priority" | "customer">;
/** What a new refund needs. */
export type NewRefund = Pick<Refund, "orderId" | "amount" | "currency">;

function nextId(prefix: "TCK" | "RFD", taken: string[]): string {
  const highest = taken.reduce((max, id) => Math.max(max, Number(id.slice(prefix.length + 1))), 0);
  return `${prefix}-${String(highest + 1).padStart(6, "0")}`;
}

/**
 * Tickets and refunds kept as JSON lines in a data directory. Ids are one more than the highest in the file,
 * taken under a lock, so they keep increasing across restarts and across processes sharing the directory.
 */
export class TicketStore {
  readonly #tickets: JsonlFile<typeof ticketSchema>;
  readonly #refunds: JsonlFile<typeof refundSchema>;
  readonly #lockPath: string;
  readonly #now: () => Date;

  constructor(dataDir: string, now: () => Date = () => new Date()) {
    this.#tickets = new JsonlFile(join(dataDir, "tickets.jsonl"), ticketSchema);
    this.#refunds = new JsonlFile(join(dataDir, "refunds.jsonl"), refundSchema);
    this.#lockPath = join(dataDir, "ticketing.lock");
    this.#now = now;
  }

  /** Records a new open ticket under the next ticket id. */
  async createTicket(fields: NewTicket): Promise<Ticket> {
    return withFileLock(this.#lockPath, async () => {
      const taken = (await this.#tickets.readAll()).map((ticket) => ticket.ticketId);
      const ticket: Ticket = {
        ticketId: nextId("TCK", taken),
        subject: fields.subject,
        body: fields.body,
        priority: fields.priority,
        ...(fields.customer === undefined ? {} : { customer: fields.customer }),
        status: "open",
        createdAt: this.#now().toISOString(),
      };
      await this.#tickets.append(ticket);
      return ticket;
    });
  }

  /** The ticket with this id, or undefined. */
  async findTicket(ticketId: string): Promise<Ticket | undefined> {
    return (await this.#tickets.readAll()).find((ticket) => ticket.ticketId === ticketId);
  }

  /** Records an issued refund under the next refund id. */
  async issueRefund(fields: NewRefund): Promise<Refund> {
    return withFileLock(this.#lockPath, async () => {
      const taken = (await this.#refunds.readAll()).map((refund) => refund.refundId);
      const refund: Refund = {
        refundId: nextId("RFD", taken),
        orderId: fields.orderId,
        amount: fields.amount,
        currency: fields.currency,
        status: "issued",
        issuedAt: this.#now().toISOString(),
      };
      await this.#refunds.append(refund);
      return refund;
    });
  }
}
