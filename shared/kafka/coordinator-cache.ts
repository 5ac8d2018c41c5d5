// kafkajs asks the cluster which broker coordinates a transactional id or a consumer group before every
// transactional request: four FindCoordinator round trips in each transaction (send, sendOffsets twice, commit),
// next to its five real requests. The Java client keeps the coordinator it found and looks again only after an
// error. This module gives kafkajs's cluster the same memory (docs/decisions/005-transaction-round-trips.md):
// a coordinator found is reused for `coordinatorTtlMs`, and forgotten at once when a transaction fails.
// kafkajs 2.2.4 is its last release, so the internal it patches does not move under it.
import { createRequire } from "node:module";

/** How long a coordinator found is trusted without an error: bounds the wait after a coordinator moves. */
export const coordinatorTtlMs = 5_000;

interface CoordinatorQuery {
  groupId: string;
  coordinatorType?: number;
}

/** The part of kafkajs's internal Cluster class this module uses. */
interface ClusterInternals {
  findGroupCoordinator: (this: ClusterInternals, query: CoordinatorQuery) => Promise<{ nodeId: number }>;
  findBroker: (this: ClusterInternals, query: { nodeId: number }) => Promise<{ nodeId: number }>;
}

interface Found {
  nodeId: number;
  until: number;
}

const found = new WeakMap<ClusterInternals, Map<string, Found>>();
let generation = 0;
const seenGeneration = new WeakMap<ClusterInternals, number>();

function cacheOf(cluster: ClusterInternals): Map<string, Found> {
  let cache = found.get(cluster);
  if (cache === undefined || seenGeneration.get(cluster) !== generation) {
    cache = new Map();
    found.set(cluster, cache);
    seenGeneration.set(cluster, generation);
  }
  return cache;
}

/** Forgets every coordinator found, in every client of this process (after a failed transaction). */
export function forgetCoordinators(): void {
  generation += 1;
}

let installed = false;
let lookups = 0;

/** How many times this process asked the cluster for a coordinator (not answered from memory). */
export function coordinatorLookups(): number {
  return lookups;
}

/** Makes kafkajs reuse the coordinators it finds; idempotent. */
export function installCoordinatorCache(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const { prototype } = require("kafkajs/src/cluster/index.js") as { prototype: ClusterInternals };
  const findUncached = prototype.findGroupCoordinator;
  prototype.findGroupCoordinator = async function (this: ClusterInternals, query: CoordinatorQuery) {
    const cache = cacheOf(this);
    const key = `${query.coordinatorType ?? 0}/${query.groupId}`;
    const hit = cache.get(key);
    if (hit !== undefined && hit.until > Date.now()) {
      try {
        return await this.findBroker({ nodeId: hit.nodeId });
      } catch {
        cache.delete(key);
      }
    }
    lookups += 1;
    const broker = await findUncached.call(this, query);
    cache.set(key, { nodeId: broker.nodeId, until: Date.now() + coordinatorTtlMs });
    return broker;
  };
}
