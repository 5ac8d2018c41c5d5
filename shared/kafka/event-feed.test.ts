import { describe, expect, it } from "vitest";
import { eventId, parseEventId } from "./event-feed.ts";

describe("event ids", () => {
  it("an id is the event's partition and offset, and reads back to them", () => {
    const position = { partition: 7, offset: 10_452n };
    expect(eventId(position)).toBe("7-10452");
    expect(parseEventId(eventId(position))).toEqual(position);
  });

  it.each(["", "7", "7-", "-5", "a-1", "7-1-2", "7-1.5", "123456-1"])("%j is not an event id", (text) => {
    expect(parseEventId(text)).toBeUndefined();
  });
});
