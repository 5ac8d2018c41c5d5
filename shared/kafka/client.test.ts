import { describe, expect, it } from "vitest";
import { logLevel } from "kafkajs";
import { pinoLevelOf } from "./client.ts";

describe("kafkajs log levels", () => {
  it("keeps kafkajs's level for ordinary entries", () => {
    expect(pinoLevelOf(logLevel.ERROR, { message: "Crash: KafkaJSNumberOfRetriesExceeded" })).toBe("error");
    expect(pinoLevelOf(logLevel.WARN, { message: "The group is rebalancing" })).toBe("warn");
    expect(pinoLevelOf(logLevel.INFO, { message: "Consumer has joined the group" })).toBe("info");
    expect(pinoLevelOf(logLevel.DEBUG, { message: "Request Fetch(key: 1, version: 11)" })).toBe("debug");
  });

  it("logs refusals kafkajs retries (markers being written, a coordinator loading) as debug, in either form", () => {
    const refusal =
      "The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing";
    expect(
      pinoLevelOf(logLevel.ERROR, { message: "Response AddPartitionsToTxn(key: 24, version: 1)", error: refusal }),
    ).toBe("debug");
    expect(pinoLevelOf(logLevel.ERROR, { message: `Failed to send messages: ${refusal}` })).toBe("debug");
    expect(
      pinoLevelOf(logLevel.ERROR, {
        message: "Response InitProducerId(key: 22, version: 1)",
        error: "The coordinator is loading and hence can't process requests for this group",
      }),
    ).toBe("debug");
    expect(
      pinoLevelOf(logLevel.ERROR, { message: "Response Produce(key: 0, version: 7)", error: "Broker not available" }),
    ).toBe("error");
  });
});
