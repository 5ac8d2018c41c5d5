// `node bench/transaction-cost.ts [--rates 200,600,1200] [--seconds 10] [--modes partition,member,none]`: what a
// Kafka transaction costs the broker and the client, and how that cost changes with the way a stage groups its work.
// Messages arrive open loop at a fixed rate, spread over 12 input partitions (like a stage's input), and are written
// to a 12-partition output topic with their input offsets committed, in one of three ways:
//   partition: one transactional producer per input partition (Baton's lanes, decision 006), a transaction per lane
//              whenever messages wait for it;
//   member:    one transactional producer for all partitions, one transaction for everything waiting (Kafka's
//              KIP-447 design, which needs TxnOffsetCommit v3 for fencing: kafkajs sends v0-v2, so this mode measures
//              the cost only, not a design Baton can use as is);
//   none:      one idempotent producer, no transaction and no offsets (the floor).
// For each step it prints latency from arrival to commit (p50, p99), transactions per second, messages per
// transaction and the CPU per message of the broker and of this process (the client). It reports; it never fails.
import { parseArgs } from "node:util";
import { backboneConfigSchema, parseConfig } from "../shared/config.ts";
import { createBackbone } from "../shared/backbone.ts";
import { createLogger } from "../shared/telemetry/logger.ts";
import { BatonProducer, type RawOutgoingMessage } from "../shared/kafka/producer.ts";
import { BatonAdmin } from "../shared/kafka/admin.ts";
import { stackStatus } from "../cli/stack/stack.ts";
import { percentile } from "./open-loop-load.ts";
import { cpuBetween, sampleCpu } from "./process-cpu.ts";

const { values: options } = parseArgs({
  options: {
    rates: { type: "string", default: "200,600,1200" },
    seconds: { type: "string", default: "10" },
    modes: { type: "string", default: "partition,member,none" },
    rounds: { type: "string", default: "1" },
    help: { type: "boolean", default: false },
  },
});
if (options.help) {
  console.log(
    "usage: node bench/transaction-cost.ts [--rates 200,600,1200] [--seconds 10] [--rounds 1] " +
      "[--modes partition,member,none]",
  );
  process.exit(0);
}
type Mode = "partition" | "member" | "none";
const rates = options.rates.split(",").map(Number);
const modes = options.modes.split(",") as Mode[];
const stepMs = Number(options.seconds) * 1000;
const partitions = 12;
const inputTopic = "bench.txn-in";
const outputTopic = "bench.txn-out";
const groupId = "bench-txn";
const payload = Buffer.alloc(300, "x");

const logger = createLogger({ service: "bench", level: "warn" });
const backbone = createBackbone("bench-transaction-cost", parseConfig(backboneConfigSchema, process.env), logger);
const brokerPid = (await stackStatus()).services.find((service) => service.name === "kafka")?.pid;
if (brokerPid === undefined) {
  console.error("the local stack is not running: start it with `node cli/main.ts stack up`");
  process.exit(2);
}
const admin = await BatonAdmin.connect(backbone.kafka);
await admin.applyTopics(
  [inputTopic, outputTopic].map((name) => ({
    name,
    partitions,
    config: { "retention.ms": "600000" },
    valueRecord: null,
    role: "main" as const,
  })),
);
await admin.disconnect();

interface Waiting {
  arrivedAt: number;
}
interface StepResult {
  mode: Mode;
  rate: number;
  latencies: number[];
  transactions: number;
  messages: number;
  brokerMs: number;
  clientMs: number;
}

const producers = new Map<string, BatonProducer>();
async function producer(id: string | undefined): Promise<BatonProducer> {
  const name = id ?? "idempotent";
  let found = producers.get(name);
  if (found === undefined) {
    found = await BatonProducer.connect({
      kafka: backbone.kafka,
      codec: backbone.codec,
      tracer: backbone.tracing.tracer,
      ...(id === undefined ? {} : { transactionalId: id }),
    });
    producers.set(name, found);
  }
  return found;
}

const nextOffset = new Array<number>(partitions).fill(0);

/** Writes one batch (messages by partition) the way `mode` does; resolves when it is committed. */
async function write(mode: Mode, byPartition: Map<number, Waiting[]>, lane: number | undefined): Promise<number> {
  const messages: RawOutgoingMessage[] = [];
  const offsets: Array<{ topic: string; partition: number; offset: string }> = [];
  for (const [partition, waiting] of byPartition) {
    for (const _ of waiting) messages.push({ topic: outputTopic, key: null, value: payload, partition });
    nextOffset[partition] = (nextOffset[partition] ?? 0) + waiting.length;
    offsets.push({ topic: inputTopic, partition, offset: String(nextOffset[partition]) });
  }
  if (mode === "none") {
    await (await producer(undefined)).sendRaw(messages);
    return 0;
  }
  const id = mode === "member" ? "bench-txn-member" : `bench-txn-p${lane}`;
  await (
    await producer(id)
  ).transaction(async (transaction) => {
    await transaction.sendRaw(messages);
    await transaction.commitOffsets({ consumerGroupId: groupId, offsets });
  });
  return 1;
}

async function step(mode: Mode, rate: number, measureMs: number): Promise<StepResult> {
  const queues = Array.from({ length: partitions }, () => [] as Waiting[]);
  const wake = new Array<(() => void) | undefined>(partitions).fill(undefined);
  let running = true;
  let measuring = false;
  const result: StepResult = { mode, rate, latencies: [], transactions: 0, messages: 0, brokerMs: 0, clientMs: 0 };
  const lanes = mode === "partition" ? partitions : 1;
  const laneOf = (partition: number): number => (mode === "partition" ? partition : 0);

  const loops = Array.from({ length: lanes }, async (_, lane) => {
    while (running) {
      const mine = mode === "partition" ? [lane] : queues.map((_, partition) => partition);
      const byPartition = new Map<number, Waiting[]>();
      for (const partition of mine) {
        const queue = queues[partition] ?? [];
        if (queue.length > 0) byPartition.set(partition, queue.splice(0));
      }
      if (byPartition.size === 0) {
        await new Promise<void>((resolve) => {
          wake[lane] = resolve;
        });
        continue;
      }
      const transactions = await write(mode, byPartition, lane);
      const now = performance.now();
      if (measuring) {
        result.transactions += transactions;
        for (const waiting of byPartition.values()) {
          result.messages += waiting.length;
          for (const message of waiting) result.latencies.push(now - message.arrivedAt);
        }
      }
    }
  });

  const warmupMs = 2_000;
  const started = performance.now();
  let sent = 0;
  let cpuBefore: Map<string, number> | undefined;
  let clientBefore: NodeJS.CpuUsage | undefined;
  const groups = new Map([["broker", [brokerPid!]]]);
  while (performance.now() - started < warmupMs + measureMs) {
    const elapsed = performance.now() - started;
    if (!measuring && elapsed >= warmupMs) {
      measuring = true;
      cpuBefore = await sampleCpu(groups);
      clientBefore = process.cpuUsage();
    }
    // Message i is due at i / rate seconds: those with i <= elapsed * rate.
    const due = Math.floor((elapsed / 1000) * rate) + 1;
    for (; sent < due; sent += 1) {
      const partition = sent % partitions;
      queues[partition]?.push({ arrivedAt: started + (sent / rate) * 1000 });
      const lane = laneOf(partition);
      wake[lane]?.();
      wake[lane] = undefined;
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const cpuAfter = await sampleCpu(groups);
  const client = process.cpuUsage(clientBefore);
  measuring = false;
  running = false;
  for (let lane = 0; lane < lanes; lane += 1) wake[lane]?.();
  await Promise.all(loops);
  result.brokerMs = cpuBetween(cpuBefore!, cpuAfter).get("broker") ?? 0;
  result.clientMs = (client.user + client.system) / 1000;
  return result;
}

const fixed = (value: number, digits = 1): string => value.toFixed(digits);
console.log(`machine: ${new Date().toISOString()}, ${partitions} partitions, rates ${rates.join(", ")} msg/s`);
console.log("round | mode | rate | p50 ms | p99 ms | tx/s | msgs/tx | broker CPU ms/msg | client CPU ms/msg | total");
for (let round = 1; round <= Number(options.rounds); round += 1) {
  const order = round % 2 === 1 ? modes : [...modes].reverse();
  for (const rate of rates) {
    for (const mode of order) {
      const result = await step(mode, rate, stepMs);
      const sorted = result.latencies.sort((a, b) => a - b);
      const perMessage = (ms: number): number => (result.messages === 0 ? 0 : ms / result.messages);
      console.log(
        [
          round,
          mode,
          rate,
          fixed(percentile(sorted, 50)),
          fixed(percentile(sorted, 99)),
          fixed(result.transactions / (stepMs / 1000), 0),
          result.transactions === 0 ? "-" : fixed(result.messages / result.transactions, 2),
          fixed(perMessage(result.brokerMs), 3),
          fixed(perMessage(result.clientMs), 3),
          fixed(perMessage(result.brokerMs + result.clientMs), 3),
        ].join(" | "),
      );
    }
  }
}
for (const found of producers.values()) await found.disconnect();
await backbone.tracing.shutdown();
process.exit(0);
