import { describe, expect, it } from "vitest";
import type { PrometheusSample } from "./prometheus-text.ts";
import {
  bucketDelta,
  formatPartitions,
  histogramQuantile,
  ownedPartitions,
  renderTop,
  stageRow,
  stageSnapshot,
  topRows,
  type Bucket,
  type InstanceScrape,
  type StageScrape,
  type StageSnapshot,
} from "./top-view.ts";

function sample(name: string, labels: Record<string, string>, value: number): PrometheusSample {
  return { name, labels, value };
}

function buckets(...pairs: Array<[number, number]>): Bucket[] {
  return pairs.map(([le, count]) => ({ le, count }));
}

function snapshot(fields: Partial<StageSnapshot> = {}): StageSnapshot {
  return {
    messagesIn: 0,
    processingBuckets: [],
    consumerLag: 0,
    retries: 0,
    deadLetters: 0,
    openBreakers: [],
    ownedPartitions: null,
    ...fields,
  };
}

function scrape(at: number, fields: Partial<StageSnapshot> | null, stage = "executor"): StageScrape {
  const url = "http://127.0.0.1:9466/metrics";
  const failure = fields === null ? "ECONNREFUSED" : null;
  return {
    stage,
    at,
    endpoints: [url],
    failures: failure === null ? {} : { [url]: failure },
    snapshot: fields === null ? null : snapshot(fields),
    instances: [{ url, pid: null, failure, snapshot: fields === null ? null : snapshot(fields) }],
  };
}

/** A stage scraped at several endpoints, each instance with its own snapshot (null: it did not answer). */
function scrapeInstances(
  at: number,
  stage: string,
  instances: Array<{ url: string; pid?: number; fields: Partial<StageSnapshot> | null }>,
): StageScrape {
  const scraped: InstanceScrape[] = instances.map(({ url, pid, fields }) => ({
    url,
    pid: pid ?? null,
    failure: fields === null ? "ECONNREFUSED" : null,
    snapshot: fields === null ? null : snapshot(fields),
  }));
  const answering = scraped.filter((instance) => instance.snapshot !== null);
  const owned = answering.flatMap((instance) => instance.snapshot?.ownedPartitions ?? []);
  return {
    stage,
    at,
    endpoints: scraped.map((instance) => instance.url),
    failures: Object.fromEntries(
      scraped.flatMap((instance) => (instance.failure === null ? [] : [[instance.url, instance.failure]])),
    ),
    snapshot:
      answering.length === 0
        ? null
        : snapshot({
            messagesIn: answering.reduce((total, instance) => total + (instance.snapshot?.messagesIn ?? 0), 0),
            consumerLag: answering.reduce((total, instance) => total + (instance.snapshot?.consumerLag ?? 0), 0),
            ownedPartitions: answering.every((instance) => instance.snapshot?.ownedPartitions === null)
              ? null
              : [...new Set(owned)].sort((a, b) => a - b),
          }),
    instances: scraped,
  };
}

describe("stageSnapshot", () => {
  it("sums counters over topics and partitions, merges histogram buckets and lists open breakers once", () => {
    const result = stageSnapshot([
      sample("baton_messages_in_total", { topic: "baton.allowed-calls" }, 10),
      sample("baton_messages_in_total", { topic: "baton.tool-intents" }, 5),
      sample("baton_consumer_lag", { topic: "baton.allowed-calls", partition: "0" }, 3),
      sample("baton_consumer_lag", { topic: "baton.allowed-calls", partition: "1" }, 4),
      sample("baton_retries_total", { topic: "baton.allowed-calls" }, 2),
      sample("baton_dead_letters_total", { topic: "baton.allowed-calls" }, 1),
      sample("baton_processing_seconds_bucket", { topic: "a", le: "0.1" }, 1),
      sample("baton_processing_seconds_bucket", { topic: "a", le: "+Inf" }, 2),
      sample("baton_processing_seconds_bucket", { topic: "b", le: "0.1" }, 3),
      sample("baton_processing_seconds_bucket", { topic: "b", le: "+Inf" }, 3),
      sample("baton_circuit_breaker_open", { tool: "tickets.create" }, 1),
      sample("baton_circuit_breaker_open", { tool: "kb.search" }, 0),
      sample("baton_circuit_breaker_open", { tool: "tickets.create", instance: "2" }, 1),
      sample("baton_messages_out_total", { topic: "baton.tool-results" }, 99),
    ]);
    expect(result).toEqual({
      messagesIn: 15,
      processingBuckets: buckets([0.1, 4], [Number.POSITIVE_INFINITY, 5]),
      consumerLag: 7,
      retries: 2,
      deadLetters: 1,
      openBreakers: ["tickets.create"],
      ownedPartitions: null,
    });
  });

  it("lists the partitions owned once each, ascending, and tells owning none from not reporting them", () => {
    const owned = [
      sample("baton_owned_partitions", { partition: "7" }, 1),
      sample("baton_owned_partitions", { partition: "2" }, 1),
      sample("baton_owned_partitions", { partition: "3" }, 0),
      sample("baton_owned_partitions", { partition: "2", stage: "executor" }, 1),
      sample("baton_owned_partitions", { partition: "x" }, 1),
    ];
    expect(stageSnapshot(owned).ownedPartitions).toEqual([2, 7]);
    expect(ownedPartitions([], { baton_owned_partitions: "gauge" })).toEqual([]);
    expect(ownedPartitions([sample("baton_messages_in_total", {}, 1)])).toBeNull();
  });
});

describe("formatPartitions", () => {
  it("writes runs as ranges and the rest one by one, in order", () => {
    expect(formatPartitions([7, 0, 1, 2, 3])).toBe("0-3,7");
    expect(formatPartitions([0, 1, 2, 3, 4, 5])).toBe("0-5");
    expect(formatPartitions([6, 7, 8, 9, 10, 11])).toBe("6-11");
    expect(formatPartitions([1, 3, 5])).toBe("1,3,5");
    expect(formatPartitions([4, 5, 5, 9, 10])).toBe("4-5,9-10");
    expect(formatPartitions([11])).toBe("11");
  });

  it("says none for an instance that owns nothing, and - when it is not known", () => {
    expect(formatPartitions([])).toBe("none");
    expect(formatPartitions(null)).toBe("-");
  });
});

describe("histogramQuantile", () => {
  it("interpolates inside the bucket the rank falls in, as Prometheus does", () => {
    const histogram = buckets([0.1, 50], [0.2, 90], [0.5, 100], [Number.POSITIVE_INFINITY, 100]);
    expect(histogramQuantile(0.5, histogram)).toBeCloseTo(0.1);
    expect(histogramQuantile(0.99, histogram)).toBeCloseTo(0.2 + 0.3 * 0.9);
  });

  it("answers the largest finite bound when the rank falls in +Inf, and null when empty", () => {
    expect(histogramQuantile(0.99, buckets([1, 1], [Number.POSITIVE_INFINITY, 10]))).toBe(1);
    expect(histogramQuantile(0.99, buckets([1, 0], [Number.POSITIVE_INFINITY, 0]))).toBeNull();
    expect(histogramQuantile(0.99, [])).toBeNull();
  });
});

describe("bucketDelta", () => {
  it("subtracts the earlier scrape, and gives up when a count went down (a restart)", () => {
    expect(
      bucketDelta(buckets([1, 2], [Number.POSITIVE_INFINITY, 3]), buckets([1, 5], [Number.POSITIVE_INFINITY, 7])),
    ).toEqual(buckets([1, 3], [Number.POSITIVE_INFINITY, 4]));
    expect(bucketDelta(buckets([1, 5]), buckets([1, 1]))).toBeNull();
  });
});

describe("stageRow", () => {
  it("measures throughput from the delta of messages in between two scrapes", () => {
    const row = stageRow(scrape(1_000, { messagesIn: 100 }), scrape(3_000, { messagesIn: 130 }));
    expect(row.messagesPerSecond).toBe(15);
    expect(row.state).toBe("up");
  });

  it("has no throughput on the first scrape, and counts from zero after a restart", () => {
    expect(stageRow(undefined, scrape(1_000, { messagesIn: 100 })).messagesPerSecond).toBeNull();
    expect(stageRow(scrape(1_000, { messagesIn: 100 }), scrape(2_000, { messagesIn: 4 })).messagesPerSecond).toBe(4);
  });

  it("takes p99 over the interval when messages were handled in it, else since the stage started", () => {
    const before = buckets([0.01, 1_000], [1, 1_000], [Number.POSITIVE_INFINITY, 1_000]);
    const slowInterval = buckets([0.01, 1_000], [1, 1_100], [Number.POSITIVE_INFINITY, 1_100]);
    const interval = stageRow(
      scrape(0, { processingBuckets: before }),
      scrape(2_000, { processingBuckets: slowInterval }),
    );
    expect(interval.p99Over).toBe("interval");
    expect(interval.p99Ms).toBeCloseTo(0.01 * 1_000 + 0.99 * 0.99 * 1_000);

    const idle = stageRow(scrape(0, { processingBuckets: before }), scrape(2_000, { processingBuckets: before }));
    expect(idle.p99Over).toBe("total");
    expect(idle.p99Ms).toBeCloseTo(0.0099 * 1_000);
  });

  it("shows a stage whose endpoint does not answer as down, with the reason", () => {
    const row = stageRow(undefined, scrape(0, null));
    expect(row).toMatchObject({
      state: "down",
      answered: 0,
      messagesPerSecond: null,
      consumerLag: null,
      failures: { "http://127.0.0.1:9466/metrics": "ECONNREFUSED" },
    });
  });

  it("shows a stage with some instances answering as partial", () => {
    const current: StageScrape = {
      ...scrape(0, {}),
      endpoints: ["http://a/metrics", "http://b/metrics"],
      failures: { "http://b/metrics": "timed out" },
    };
    expect(stageRow(undefined, current)).toMatchObject({ state: "partial", answered: 1, endpoints: 2 });
  });
});

describe("renderTop", () => {
  it("prints a line per stage with its numbers, open breakers, and why a stage is down", () => {
    const previous = [scrape(0, { messagesIn: 0 }, "planner"), scrape(0, null, "executor")];
    const current = [
      scrape(
        2_000,
        {
          messagesIn: 25,
          consumerLag: 12,
          retries: 3,
          deadLetters: 1,
          openBreakers: ["crm.lookup", "tickets.create"],
          processingBuckets: buckets([0.01, 25], [Number.POSITIVE_INFINITY, 25]),
        },
        "planner",
      ),
      scrape(2_000, null, "executor"),
    ];
    const lines = renderTop(topRows(previous, current), {
      at: new Date("2026-11-21T10:00:02Z"),
      intervalSeconds: 2,
      live: true,
    });
    expect(lines[0]).toBe("baton top  2026-11-21 10:00:02Z  every 2s  (Ctrl-C to quit)");
    expect(lines[2]).toMatch(/^stage +state +partitions +in\/s +p99 ms +lag +retries +dead +open breakers$/);
    expect(lines[3]).toMatch(/^planner +up +12\.5 +9\.9 +12 +3 +1 +crm\.lookup, tickets\.create$/);
    expect(lines[4]).toMatch(/^ {2}127\.0\.0\.1:9466 +up +- +12\.5 +9\.9 +12 +3 +1 +crm\.lookup, tickets\.create$/);
    expect(lines[5]).toMatch(/^executor +down +- +- +- +- +- +-$/);
    expect(lines[6]).toMatch(/^ {2}127\.0\.0\.1:9466 +down +- +- +- +- +- +- +-$/);
    expect(lines).toContain("executor: http://127.0.0.1:9466/metrics did not answer (ECONNREFUSED)");
  });

  it("counts the instances of a stage that has several, all up or some down", () => {
    const two = (failures: Record<string, string>): StageScrape => ({
      ...scrape(0, {}, "executor"),
      endpoints: ["http://a/metrics", "http://b/metrics"],
      failures,
    });
    const render = (current: StageScrape) =>
      renderTop(topRows([current], [{ ...current, at: 2_000 }]), { at: new Date(0), intervalSeconds: 2, live: false });
    expect(render(two({}))[3]).toMatch(/^executor +2\/2 up +0\.0 /);
    expect(render(two({ "http://b/metrics": "timed out" }))[3]).toMatch(/^executor +1\/2 up +0\.0 /);
  });

  it("marks a p99 taken since the stage started and explains the mark", () => {
    const idle = scrape(0, { processingBuckets: buckets([0.1, 4], [Number.POSITIVE_INFINITY, 4]) }, "policy");
    const lines = renderTop(topRows([idle], [{ ...idle, at: 2_000 }]), {
      at: new Date(0),
      intervalSeconds: 2,
      live: false,
    });
    expect(lines[0]).not.toContain("Ctrl-C");
    expect(lines[3]).toMatch(/^policy +up +0\.0 +99\.0\* /);
    expect(lines).toContain("* p99 since the stage started: nothing handled in the last interval");
  });

  it("shows each instance under its stage with the partitions it owns, and the stage's line with all of them", () => {
    const frame = (at: number, first: number, second: number): StageScrape =>
      scrapeInstances(at, "executor", [
        {
          url: "http://127.0.0.1:9466/metrics",
          pid: 4101,
          fields: { messagesIn: first, consumerLag: 2, ownedPartitions: [0, 1, 2, 3, 4, 5] },
        },
        {
          url: "http://127.0.0.1:9476/metrics",
          pid: 4188,
          fields: { messagesIn: second, consumerLag: 5, ownedPartitions: [6, 7, 8, 9, 10, 11] },
        },
      ]);
    const lines = renderTop(topRows([frame(0, 10, 0)], [frame(2_000, 20, 30)]), {
      at: new Date(0),
      intervalSeconds: 2,
      live: false,
    });
    expect(lines.slice(3)).toHaveLength(3);
    expect(lines[3]).toMatch(/^executor +2\/2 up +0-11 +20\.0 +- +7 +0 +0 +-$/);
    expect(lines[4]).toMatch(/^ {2}pid 4101 +up +0-5 +5\.0 +- +2 +0 +0 +-$/);
    expect(lines[5]).toMatch(/^ {2}pid 4188 +up +6-11 +15\.0 +- +5 +0 +0 +-$/);
  });

  it("says none for an instance that owns no partition, and leaves a gap nobody owns visible on the stage's line", () => {
    const current = scrapeInstances(0, "executor", [
      { url: "http://127.0.0.1:9466/metrics", pid: 4101, fields: { ownedPartitions: [0, 1, 2, 4, 5] } },
      { url: "http://127.0.0.1:9476/metrics", pid: 4188, fields: { ownedPartitions: [] } },
      { url: "http://10.0.0.7:9486/metrics", fields: null },
    ]);
    const lines = renderTop(topRows(undefined, [current]), { at: new Date(0), intervalSeconds: 2, live: false });
    expect(lines[3]).toMatch(/^executor +2\/3 up +0-2,4-5 +- /);
    expect(lines[4]).toMatch(/^ {2}pid 4101 +up +0-2,4-5 +- /);
    expect(lines[5]).toMatch(/^ {2}pid 4188 +up +none +- /);
    expect(lines[6]).toMatch(/^ {2}10\.0\.0\.7:9486 +down +- +- /);
    expect(lines).toContain("executor: http://10.0.0.7:9486/metrics did not answer (ECONNREFUSED)");
  });
});

describe("stageRow instances", () => {
  it("gives each instance its own rate, matched by endpoint, and its partitions, for --json", () => {
    const frame = (at: number, first: number, second: number): StageScrape =>
      scrapeInstances(at, "executor", [
        { url: "http://a/metrics", pid: 1, fields: { messagesIn: first, ownedPartitions: [0, 1, 2] } },
        { url: "http://b/metrics", pid: 2, fields: { messagesIn: second, ownedPartitions: [] } },
      ]);
    const row = stageRow(frame(0, 0, 100), frame(1_000, 4, 110));
    expect(row.messagesPerSecond).toBe(14);
    expect(row.ownedPartitions).toEqual([0, 1, 2]);
    expect(row.instances).toMatchObject([
      { url: "http://a/metrics", pid: 1, state: "up", messagesPerSecond: 4, ownedPartitions: [0, 1, 2] },
      { url: "http://b/metrics", pid: 2, state: "up", messagesPerSecond: 10, ownedPartitions: [] },
    ]);
  });

  it("has no rate for an instance that was not there at the scrape before (a new one)", () => {
    const before = scrapeInstances(0, "executor", [{ url: "http://a/metrics", fields: { messagesIn: 5 } }]);
    const after = scrapeInstances(1_000, "executor", [
      { url: "http://a/metrics", fields: { messagesIn: 6 } },
      { url: "http://b/metrics", fields: { messagesIn: 50 } },
    ]);
    expect(stageRow(before, after).instances.map((instance) => instance.messagesPerSecond)).toEqual([1, null]);
  });
});
