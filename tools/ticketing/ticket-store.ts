import { join } from "node:path";
import { z } from "zod";
import { withFileLock } from "../common/file-lock.ts";
import { JsonlFile } from "../common/jsonl-file.ts";
import { SequenceFile } from "../common/sequence-file.ts";

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

function formatId(prefix: "TCK" | "RFD", number: number): string {
  return `${prefix}-${String(number).padStart(6, "0")}`;
}

function highestId(prefix: "TCK" | "RFD", taken: string[]): number {
  return taken.reduce((max, id) => Math.max(max, Number(id.slice(prefix.length + 1))), 0);
}

/**
 * Tickets and refunds kept as JSON lines in a data directory. Ids are one more than the last one given, kept in a
 * small counter file (`tickets.last-id.json`, `refunds.last-id.json`) and taken under a lock, so they keep increasing
 * across restarts and across processes sharing the directory, and taking one costs the same however many tickets
 * exist. A data directory from before the counters starts its counter at the highest id in its file.
 */
export class TicketStore {
  readonly #tickets: JsonlFile<typeof ticketSchema>;
  readonly #refunds: JsonlFile<typeof refundSchema>;
  readonly #ticketIds: SequenceFile;
  readonly #refundIds: SequenceFile;
  readonly #lockPath: string;
  readonly #now: () => Date;

  constructor(dataDir: string, now: () => Date = () => new Date()) {
    this.#tickets = new JsonlFile(join(dataDir, "tickets.jsonl"), ticketSchema);
    this.#refunds = new JsonlFile(join(dataDir, "refunds.jsonl"), refundSchema);
    this.#ticketIds = new SequenceFile(join(dataDir, "tickets.last-id.json"), async () =>
      highestId(
        "TCK",
        (await this.#tickets.readAll()).map((ticket) => ticket.ticketId),
      ),
    );
    this.#refundIds = new SequenceFile(join(dataDir, "refunds.last-id.json"), async () =>
      highestId(
        "RFD",
        (await this.#refunds.readAll()).map((refund) => refund.refundId),
      ),
    );
    this.#lockPath = join(dataDir, "ticketing.lock");
    this.#now = now;
  }

  /** Records a new open ticket under the next ticket id. */
  async createTicket(fields: NewTicket): Promise<Ticket> {
    return withFileLock(this.#lockPath, async () => {
      const ticket: Ticket = {
        ticketId: formatId("TCK", await this.#ticketIds.next()),
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
      const refund: Refund = {
        refundId: formatId("RFD", await this.#refundIds.next()),
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
