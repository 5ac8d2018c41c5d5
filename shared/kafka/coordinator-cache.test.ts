import { describe, expect, it } from "vitest";
import {
  coordinatorLookups,
  coordinatorTtlMs,
  forgetCoordinators,
  rememberingLookup,
  type BrokerLike,
  type ClusterInternals,
  type CoordinatorQuery,
} from "./coordinator-cache.ts";

/** A stand-in for kafkajs's cluster: coordinators by group id, brokers by node id, and what it was asked. */
function fakeCluster(coordinators: Map<string, number>, brokers: Set<number>) {
  const asked: string[] = [];
  const findUncached = function (this: ClusterInternals, query: CoordinatorQuery): Promise<BrokerLike> {
    asked.push(`${query.coordinatorType ?? 0}/${query.groupId}`);
    const nodeId = coordinators.get(query.groupId);
    return nodeId === undefined ? Promise.reject(new Error("no coordinator")) : Promise.resolve({ nodeId });
  };
  const cluster: ClusterInternals = {
    findGroupCoordinator: findUncached,
    findBroker: ({ nodeId }) =>
      brokers.has(nodeId) ? Promise.resolve({ nodeId }) : Promise.reject(new Error(`broker ${nodeId} not found`)),
  };
  return { cluster, findUncached, asked };
}

describe("coordinator memory", () => {
  it("asks the cluster once per group and coordinator type, then answers from memory", async () => {
    const { cluster, findUncached, asked } = fakeCluster(
      new Map([
        ["tx-a", 1],
        ["group-a", 2],
      ]),
      new Set([1, 2]),
    );
    const lookup = rememberingLookup(findUncached);
    const before = coordinatorLookups();
    for (let round = 0; round < 3; round += 1) {
      expect(await lookup.call(cluster, { groupId: "tx-a", coordinatorType: 1 })).toEqual({ nodeId: 1 });
      expect(await lookup.call(cluster, { groupId: "group-a" })).toEqual({ nodeId: 2 });
    }
    expect(asked).toEqual(["1/tx-a", "0/group-a"]);
    expect(coordinatorLookups() - before).toBe(2);
  });

  it("asks again once the memory is older than its time to live", async () => {
    let clock = 1_000;
    const coordinators = new Map([["tx-a", 1]]);
    const { cluster, findUncached, asked } = fakeCluster(coordinators, new Set([1, 3]));
    const lookup = rememberingLookup(findUncached, () => clock);
    await lookup.call(cluster, { groupId: "tx-a", coordinatorType: 1 });
    coordinators.set("tx-a", 3);
    clock += coordinatorTtlMs - 1;
    expect(await lookup.call(cluster, { groupId: "tx-a", coordinatorType: 1 })).toEqual({ nodeId: 1 });
    clock += 1;
    expect(await lookup.call(cluster, { groupId: "tx-a", coordinatorType: 1 })).toEqual({ nodeId: 3 });
    expect(asked).toEqual(["1/tx-a", "1/tx-a"]);
  });

  it("asks again after forgetCoordinators, and when the remembered broker is gone", async () => {
    const coordinators = new Map([["tx-a", 1]]);
    const brokers = new Set([1, 2]);
    const { cluster, findUncached, asked } = fakeCluster(coordinators, brokers);
    const lookup = rememberingLookup(findUncached);
    await lookup.call(cluster, { groupId: "tx-a", coordinatorType: 1 });
    forgetCoordinators();
    coordinators.set("tx-a", 2);
    expect(await lookup.call(cluster, { groupId: "tx-a", coordinatorType: 1 })).toEqual({ nodeId: 2 });
    brokers.delete(2);
    brokers.add(4);
    coordinators.set("tx-a", 4);
    expect(await lookup.call(cluster, { groupId: "tx-a", coordinatorType: 1 })).toEqual({ nodeId: 4 });
    expect(asked).toEqual(["1/tx-a", "1/tx-a", "1/tx-a"]);
  });

  it("keeps one memory per cluster", async () => {
    const first = fakeCluster(new Map([["tx-a", 1]]), new Set([1]));
    const second = fakeCluster(new Map([["tx-a", 5]]), new Set([5]));
    const byCluster = new Map([
      [first.cluster, first.findUncached],
      [second.cluster, second.findUncached],
    ]);
    const lookup = rememberingLookup(function (this: ClusterInternals, query: CoordinatorQuery) {
      const find = byCluster.get(this);
      if (find === undefined) throw new Error("unknown cluster");
      return find.call(this, query);
    });
    for (let round = 0; round < 2; round += 1) {
      expect(await lookup.call(first.cluster, { groupId: "tx-a", coordinatorType: 1 })).toEqual({ nodeId: 1 });
      expect(await lookup.call(second.cluster, { groupId: "tx-a", coordinatorType: 1 })).toEqual({ nodeId: 5 });
    }
    expect([first.asked, second.asked]).toEqual([["1/tx-a"], ["1/tx-a"]]);
  });

  it("remembers nothing when the lookup fails", async () => {
    const { cluster, findUncached, asked } = fakeCluster(new Map(), new Set([1]));
    const lookup = rememberingLookup(findUncached);
    await expect(lookup.call(cluster, { groupId: "tx-b", coordinatorType: 1 })).rejects.toThrow("no coordinator");
    await expect(lookup.call(cluster, { groupId: "tx-b", coordinatorType: 1 })).rejects.toThrow("no coordinator");
    expect(asked).toEqual(["1/tx-b", "1/tx-b"]);
  });
});
