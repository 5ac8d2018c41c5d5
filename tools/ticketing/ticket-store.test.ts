import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { temporaryDataDir } from "../common/testing.ts";
import { TicketStore, type NewTicket, type Ticket } from "./ticket-store.ts";

let dataDir: { path: string; remove: () => Promise<void> };

beforeEach(async () => {
  dataDir = await temporaryDataDir();
});

afterEach(async () => {
  await dataDir.remove();
});

const fields: NewTicket = { subject: "Parcel late", body: "Where is it?", priority: "normal", customer: undefined };

/** Writes `count` tickets straight to tickets.jsonl, as a store that ran long before the id counter existed left it. */
async function existingTickets(count: number): Promise<void> {
  const lines = Array.from({ length: count }, (_, index) =>
    JSON.stringify({
      ticketId: `TCK-${String(index + 1).padStart(6, "0")}`,
      subject: "Old",
      body: "An older ticket",
      priority: "low",
      status: "open",
      createdAt: new Date(0).toISOString(),
    } satisfies Ticket),
  );
  await writeFile(join(dataDir.path, "tickets.jsonl"), `${lines.join("\n")}\n`, "utf8");
}

async function millisecondsPerTicket(store: TicketStore, calls: number): Promise<number> {
  const started = performance.now();
  for (let call = 0; call < calls; call++) await store.createTicket(fields);
  return (performance.now() - started) / calls;
}

describe("TicketStore", () => {
  it("continues the ids of a data file written before the counter existed, and after a restart", async () => {
    await existingTickets(41);
    expect((await new TicketStore(dataDir.path).createTicket(fields)).ticketId).toBe("TCK-000042");
    expect((await new TicketStore(dataDir.path).createTicket(fields)).ticketId).toBe("TCK-000043");
    const lines = (await readFile(join(dataDir.path, "tickets.jsonl"), "utf8")).trim().split("\n");
    expect(lines).toHaveLength(43);
    expect(JSON.parse(lines.at(-1) ?? "{}")).toMatchObject({ ticketId: "TCK-000043", subject: "Parcel late" });
  });

  it("takes the next id from its counter, not from the tickets: an unreadable ticket line no longer matters", async () => {
    const store = new TicketStore(dataDir.path);
    await store.createTicket(fields);
    await writeFile(join(dataDir.path, "tickets.jsonl"), "not json\n", { flag: "a" });
    expect((await store.createTicket(fields)).ticketId).toBe("TCK-000002");
  });

  it("never gives one id twice to stores sharing a directory, called at once", async () => {
    const [one, other] = [new TicketStore(dataDir.path), new TicketStore(dataDir.path)];
    const tickets = await Promise.all(
      Array.from({ length: 40 }, (_, index) => (index % 2 === 0 ? one : other).createTicket(fields)),
    );
    const ids = tickets.map((ticket) => ticket.ticketId);
    expect(new Set(ids).size).toBe(40);
    expect([...ids].sort().at(-1)).toBe("TCK-000040");
  });

  it("numbers refunds on their own counter", async () => {
    const store = new TicketStore(dataDir.path);
    await store.createTicket(fields);
    const refund = await store.issueRefund({ orderId: "1234", amount: 12, currency: "EUR" });
    expect(refund.refundId).toBe("RFD-000001");
    expect((await store.issueRefund({ orderId: "1235", amount: 3, currency: "EUR" })).refundId).toBe("RFD-000002");
  });

  it("creating a ticket costs about the same with 20,000 tickets on file as with 100", async () => {
    await existingTickets(100);
    const few = new TicketStore(dataDir.path);
    await few.createTicket(fields);
    const withFew = await millisecondsPerTicket(few, 100);

    await existingTickets(20_000);
    await writeFile(join(dataDir.path, "tickets.last-id.json"), '{"last":20000}\n', "utf8");
    const many = new TicketStore(dataDir.path);
    const withMany = await millisecondsPerTicket(many, 100);
    // Reading every ticket (the old way) made a call at 20,000 tickets about 50 times slower than at 100.
    expect(withMany / withFew).toBeLessThan(3);
  });
});
