// kafkajs asks the cluster which broker coordinates a transactional id or a consumer group before every
// transactional request: four FindCoordinator round trips in each transaction (send, sendOffsets twice, commit),
// next to its five real requests. The Java client keeps the coordinator it found and looks again only after an
// error. This module gives kafkajs's cluster the same memory (docs/decisions/005-transaction-round-trips.md):
// a coordinator found is reused for `coordinatorTtlMs`, and forgotten at once when a transaction fails.
// kafkajs 2.2.4 is its last release, so the internal it patches does not move under it.
import { createRequire } from "node:module";

/** How long a coordinator found is trusted without an error: bounds the wait after a coordinator moves. */
export const coordinatorTtlMs = 5_000;

export interface CoordinatorQuery {
  groupId: string;
  coordinatorType?: number;
}

/** What kafkajs hands back for a broker: its node id is all this module reads. */
export interface BrokerLike {
  nodeId: number;
}

/** The part of kafkajs's internal Cluster class this module uses. */
export interface ClusterInternals {
  findGroupCoordinator: (this: ClusterInternals, query: CoordinatorQuery) => Promise<BrokerLike>;
  findBroker: (this: ClusterInternals, query: { nodeId: number }) => Promise<BrokerLike>;
}

interface Found {
  nodeId: number;
  until: number;
}

let generation = 0;
let lookups = 0;

/** Forgets every coordinator found, in every client of this process (after a failed transaction). */
export function forgetCoordinators(): void {
  generation += 1;
}

/** How many times this process asked the cluster for a coordinator (not answered from memory). */
export function coordinatorLookups(): number {
  return lookups;
}

/**
 * Wraps a cluster's coordinator lookup with a memory per cluster: a coordinator found is asked for by node id
 * (no round trip) until `coordinatorTtlMs` has passed, `forgetCoordinators` was called, or the broker cannot be
 * found any more; then the cluster is asked again.
 */
export function rememberingLookup(
  findUncached: ClusterInternals["findGroupCoordinator"],
  now: () => number = Date.now,
): ClusterInternals["findGroupCoordinator"] {
  const memories = new WeakMap<ClusterInternals, { generation: number; found: Map<string, Found> }>();
  return async function (this: ClusterInternals, query: CoordinatorQuery): Promise<BrokerLike> {
    let memory = memories.get(this);
    if (memory === undefined || memory.generation !== generation) {
      memory = { generation, found: new Map() };
      memories.set(this, memory);
    }
    const key = `${query.coordinatorType ?? 0}/${query.groupId}`;
    const hit = memory.found.get(key);
    if (hit !== undefined && hit.until > now()) {
      try {
        return await this.findBroker({ nodeId: hit.nodeId });
      } catch {
        memory.found.delete(key);
      }
    }
    lookups += 1;
    const broker = await findUncached.call(this, query);
    memory.found.set(key, { nodeId: broker.nodeId, until: now() + coordinatorTtlMs });
    return broker;
  };
}

let installed = false;

/** Makes kafkajs reuse the coordinators it finds; idempotent. */
export function installCoordinatorCache(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const { prototype } = require("kafkajs/src/cluster/index.js") as { prototype: ClusterInternals };
  prototype.findGroupCoordinator = rememberingLookup(prototype.findGroupCoordinator);
}
