import { describe, expect, it } from "vitest";
import { newKafkaClusterId, renderKafkaLog4j2Properties, renderKafkaServerProperties } from "./kafka-config.ts";

function parse(text: string): Map<string, string> {
  const entries = text
    .split("\n")
    .filter((line) => line.length > 0 && !line.startsWith("#"))
    .map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1)] as const;
    });
  return new Map(entries);
}

describe("renderKafkaServerProperties", () => {
  const properties = parse(
    renderKafkaServerProperties({
      host: "127.0.0.1",
      brokerPort: 9092,
      controllerPort: 9093,
      dataDir: "/tmp/kafka-data",
    }),
  );

  it("runs one combined KRaft broker and controller on loopback", () => {
    expect(properties.get("process.roles")).toBe("broker,controller");
    expect(properties.get("node.id")).toBe("1");
    expect(properties.get("controller.quorum.voters")).toBe("1@127.0.0.1:9093");
    expect(properties.get("listeners")).toBe("PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093");
    expect(properties.get("advertised.listeners")).toBe("PLAINTEXT://127.0.0.1:9092");
    expect(properties.get("log.dirs")).toBe("/tmp/kafka-data");
  });

  it("never creates topics on first use, as production would not", () => {
    expect(properties.get("auto.create.topics.enable")).toBe("false");
  });

  it("lets the internal topics of transactions and groups live on a single node", () => {
    expect(properties.get("offsets.topic.replication.factor")).toBe("1");
    expect(properties.get("transaction.state.log.replication.factor")).toBe("1");
    expect(properties.get("transaction.state.log.min.isr")).toBe("1");
    expect(properties.get("group.initial.rebalance.delay.ms")).toBe("0");
    expect(properties.get("num.partitions")).toBe("1");
  });
});

describe("renderKafkaLog4j2Properties", () => {
  it("sends every log line to the given file and none to the console", () => {
    const properties = parse(renderKafkaLog4j2Properties("/tmp/kafka/server.log"));
    expect(properties.get("appender.server.fileName")).toBe("/tmp/kafka/server.log");
    expect(properties.get("rootLogger.appenderRef.server.ref")).toBe("server");
    expect([...properties.values()]).not.toContain("Console");
  });
});

describe("newKafkaClusterId", () => {
  it("is 22 characters of unpadded base64url, like Kafka's random-uuid", () => {
    expect(newKafkaClusterId()).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it("skips ids that start with a dash or are reserved", () => {
    const candidates = [Buffer.alloc(16, 0xfb), Buffer.alloc(16, 0), Buffer.from("0123456789abcdef")];
    const id = newKafkaClusterId(() => candidates.shift() ?? Buffer.alloc(16, 1));
    expect(id).toBe(Buffer.from("0123456789abcdef").toString("base64url"));
  });
});
