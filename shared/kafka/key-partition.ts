import { Partitioners } from "kafkajs";

const partitioner = Partitioners.DefaultPartitioner();

/**
 * The partition a key lands on among `partitions` with Java's murmur2 partitioning, which Baton's producers use:
 * where a request submitted through Baton (or any client partitioning as Java's does) is.
 */
export function keyPartition(key: string, partitions: number): number {
  return partitioner({
    topic: "",
    partitionMetadata: Array.from({ length: partitions }, (_, partitionId) => ({
      partitionId,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
      offlineReplicas: [],
    })),
    message: { key, value: null },
  });
}
