import { describe, expect, it } from "vitest";
import { BatonError } from "../../../shared/errors.ts";
import { decodeTriggerValue } from "./record-decoding.ts";

const noRegistry = {
  decode: () => Promise.reject(new BatonError("REGISTRY_UNAVAILABLE", "registry down")),
};

describe("decodeTriggerValue", () => {
  it("reads JSON values", async () => {
    expect(await decodeTriggerValue("json", Buffer.from('{"status":"NEW"}'), noRegistry)).toEqual({ status: "NEW" });
  });

  it("a value that is not JSON, or a tombstone, fails DECODE_FAILED with the reason (not retriable)", async () => {
    const notJson = await decodeTriggerValue("json", Buffer.from("status=NEW"), noRegistry).catch((e: unknown) => e);
    expect(notJson).toBeInstanceOf(BatonError);
    expect((notJson as BatonError).code).toBe("DECODE_FAILED");
    expect((notJson as BatonError).retriable).toBe(false);
    expect((notJson as BatonError).message).toMatch(/^not JSON: /);
    const tombstone = await decodeTriggerValue("json", null, noRegistry).catch((e: unknown) => e);
    expect((tombstone as BatonError).message).toContain("tombstone");
  });

  it("Avro goes through the registry, whose outage stays retriable", async () => {
    const error = await decodeTriggerValue("avro", Buffer.from([0, 0, 0, 0, 1, 2]), noRegistry).catch(
      (e: unknown) => e,
    );
    expect((error as BatonError).retriable).toBe(true);
  });
});
