import { readToEnd, type ReadMessage, type TopicSelection } from "../shared/kafka/topic-reader.ts";
import type { CliClient } from "./client.ts";

/**
 * What topics held when the command started, read to those ends (see readToEnd); a warning on stderr names the
 * partitions it could not read to their end in time, so a partial answer is never mistaken for a whole one.
 */
export async function readTopics(
  client: CliClient,
  topics: ReadonlyArray<string | TopicSelection>,
  options: { keys?: (key: string | null) => boolean; since?: number } = {},
): Promise<ReadMessage[]> {
  const { kafka, codec } = client.backbone;
  const result = await readToEnd({ kafka, codec, topics, ...options });
  if (result.unfinished.length > 0) {
    const ranges = result.unfinished.map(
      (range) => `${range.topic}/${range.partition} (at ${range.position} of ${range.end})`,
    );
    process.stderr.write(
      `warning: not read to the end in time, so what follows may be incomplete: ${ranges.join(", ")}\n`,
    );
  }
  return result.messages;
}
