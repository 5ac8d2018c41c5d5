import { describe, expect, it } from "vitest";
import { displayPath, formatDown, formatOneLine, formatPipelineStatus, formatStatus } from "./stack-format.ts";
import type { StackStatus } from "./stack.ts";
import { stackEndpoints } from "./stack-services.ts";

const status: StackStatus = {
  ready: false,
  stateDir: "/repo/.baton",
  endpoints: stackEndpoints,
  kafkaToolsClasspath: "/repo/.baton/cache/kafka-tools-4.3.1/*",
  services: [
    {
      name: "kafka",
      title: "Kafka 4.4.0",
      state: "running",
      pid: 101,
      address: "127.0.0.1:9092",
      ports: [
        { port: 9092, role: "broker" },
        { port: 9093, role: "controller" },
      ],
      logFile: "/repo/.baton/stack/kafka/server.log",
      outputFile: "/repo/.baton/stack/kafka/output.log",
      dataDir: "/repo/.baton/stack/kafka/data",
    },
    {
      name: "zipkin",
      title: "Zipkin 3.6.1",
      state: "stopped",
      pid: null,
      address: "http://127.0.0.1:9411",
      ports: [{ port: 9411, role: "http" }],
      logFile: "/repo/.baton/stack/zipkin/output.log",
      outputFile: "/repo/.baton/stack/zipkin/output.log",
      dataDir: null,
    },
  ],
};

describe("stack output", () => {
  it("shows each service's state, address, pid, logs and data, with paths relative to the working directory", () => {
    expect(formatStatus(status, "/repo")).toEqual([
      "Kafka 4.4.0: running at 127.0.0.1:9092 (controller :9093), pid 101",
      "  logs: .baton/stack/kafka/server.log, .baton/stack/kafka/output.log",
      "  data: .baton/stack/kafka/data",
      "Zipkin 3.6.1: stopped (serves http://127.0.0.1:9411 when up)",
      "  logs: .baton/stack/zipkin/output.log",
      "Kafka admin tools: java -cp '.baton/cache/kafka-tools-4.3.1/*' org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list",
    ]);
  });

  it("keeps paths outside the working directory absolute", () => {
    expect(displayPath("/repo/.baton/stack", "/elsewhere")).toBe("/repo/.baton/stack");
    expect(displayPath("/repo", "/repo")).toBe("/repo");
  });

  it("sums up a running stack in one line", () => {
    expect(formatOneLine(status)).toBe("stack already running: kafka 127.0.0.1:9092, zipkin http://127.0.0.1:9411");
  });

  it("says what stopping did to each service", () => {
    expect(
      formatDown({
        services: [
          { name: "kafka", title: "Kafka 4.4.0", pid: 101, outcome: "terminated" },
          { name: "registry", title: "Apicurio Registry 3.0.9", pid: 102, outcome: "killed" },
          { name: "zipkin", title: "Zipkin 3.6.1", pid: null, outcome: "not-running" },
        ],
      }),
    ).toEqual([
      "stopped Kafka 4.4.0 (pid 101)",
      "killed Apicurio Registry 3.0.9 (pid 102) after it ignored SIGTERM",
      "Zipkin 3.6.1 was not running",
    ]);
  });

  it("lists each background instance of a stage, and a stage without any as not running", () => {
    const instance = (number: number, pid: number | null) => ({
      stage: "executor" as const,
      instance: number,
      legacy: false,
      pid,
      running: pid !== null,
      metricsPort: 9466 + 10 * (number - 1),
      pidFile: `/repo/.baton/stack/stages/executor-${number}.pid`,
      logFile: `/repo/.baton/stack/stages/executor-${number}.log`,
    });
    expect(formatPipelineStatus([instance(1, 4101), instance(2, 4188), instance(3, null)], "/repo")).toEqual([
      "planner: not running",
      "policy: not running",
      "executor-1: running, pid 4101, metrics :9466 (log .baton/stack/stages/executor-1.log)",
      "executor-2: running, pid 4188, metrics :9476 (log .baton/stack/stages/executor-2.log)",
      "executor-3: not running (log .baton/stack/stages/executor-3.log)",
      "summarizer: not running",
      "gateway: not running",
    ]);
  });
});
