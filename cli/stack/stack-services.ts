import { join } from "node:path";
import type { ArtifactSpec } from "./artifact-cache.ts";
import { probeHttp } from "./http-probe.ts";
import { probeKafkaBroker } from "./kafka-probe.ts";
import { ownershipFlag } from "./process-control.ts";
import type { StackPaths } from "./stack-paths.ts";
import { prepareKafka } from "./kafka-storage.ts";

/** The services of the local stack. */
export type ServiceName = "kafka" | "kafka-secure" | "registry" | "zipkin";

/** Everything the stack listens on is on loopback only. */
export const stackHost = "127.0.0.1";

/** Where the secured local broker answers (`baton stack up --secure`): SASL/SCRAM-SHA-512, ACLs enforced. */
export const secureKafkaPorts = { broker: 9192, controller: 9193 } as const;

/** Where the local stack's services answer; the defaults every Baton component uses locally. */
export const stackEndpoints = {
  kafkaBootstrapServers: `${stackHost}:9092`,
  schemaRegistryUrl: `http://${stackHost}:8081/apis/ccompat/v7`,
  zipkinUrl: `http://${stackHost}:9411`,
} as const;

/** Versions of what the stack runs; see deploy/local/README.md for why each is what it is. */
export const stackVersions = {
  kafka: "4.4.0",
  kafkaTools: "4.3.1",
  apicurioRegistry: "3.0.9",
  zipkin: "3.6.1",
} as const;

/**
 * For the registry and Zipkin, which see little load locally: the client compiler only and the serial collector start
 * them in about half the CPU time, leaving the two cores to Kafka (which keeps the JVM's defaults for benchmarks).
 */
const lightJvmFlags = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"];

/** A port a service listens on and what it is for. */
export interface ServicePort {
  port: number;
  role: string;
}

/** One service of the stack: what to download, how to start it and how to tell it is ready. */
export interface ServiceDefinition {
  name: ServiceName;
  /** Product and version, for people ("Kafka 4.4.0"). */
  title: string;
  /** The address clients use. */
  address: string;
  ports: ServicePort[];
  artifact: ArtifactSpec;
  /** This service's folder: pid file, logs, configuration, data. */
  serviceDir: string;
  pidFile: string;
  /** The service's own log (where to look first). */
  logFile: string;
  /** The process's stdout and stderr. */
  outputFile: string;
  dataDir: string | undefined;
  /** The JVM arguments, given the artifact's cache folder; the ownership flag is among them. */
  javaArguments: (artifactDir: string) => string[];
  /** True when the service answers like itself. */
  probe: () => Promise<boolean>;
  /** A line the service's log prints once it has fully started. */
  startedLogLine: string | undefined;
  /** Writes the service's configuration (and formats its storage) before each start. */
  prepare?: (
    artifactDir: string,
    options: { javaCommand: string; onProgress: (line: string) => void },
  ) => Promise<void>;
  /** `baton stack up` restarts it when its process is alive but has stopped answering (it keeps nothing worth waiting for). */
  restartWhenUnresponsive: boolean;
}

/** Kafka's admin tools (TopicCommand and friends), a classpath folder of their own. */
export function kafkaToolsArtifact(paths: StackPaths): ArtifactSpec {
  return {
    cacheName: `kafka-tools-${stackVersions.kafkaTools}`,
    label: `Kafka tools ${stackVersions.kafkaTools}`,
    coordinates: `org.apache.kafka:kafka-tools:${stackVersions.kafkaTools}`,
    source: { kind: "pom-dependencies", pomFile: join(paths.deployDir, "kafka-tools", "pom.xml") },
  };
}

/** The three services, in start order. */
export function stackServices(paths: StackPaths): ServiceDefinition[] {
  return [kafkaService(paths), registryService(paths), zipkinService(paths)];
}

/**
 * The secured stack: a broker of its own (SASL/SCRAM-SHA-512 on 9192, ACLs enforced, state in `.baton-secure/`), and
 * the plain stack's schema registry and Zipkin, which it shares.
 */
export function secureStackServices(securePaths: StackPaths, plainPaths: StackPaths): ServiceDefinition[] {
  return [secureKafkaService(securePaths), registryService(plainPaths), zipkinService(plainPaths)];
}

/** The secured broker alone: what `baton stack down --secure` stops (the registry and Zipkin are the plain stack's). */
export function secureKafkaService(paths: StackPaths): ServiceDefinition {
  const service = kafkaService(paths, "kafka-secure", secureKafkaPorts.broker, secureKafkaPorts.controller);
  return {
    ...service,
    title: `Kafka ${stackVersions.kafka} (SASL/SCRAM, ACLs)`,
    prepare: (artifactDir, options) =>
      prepareKafka(service, artifactDir, { ...options, credentialsDir: secureCredentialsDir(paths) }),
  };
}

/** Where the secured stack keeps its principals' password files (mode 0600). */
export function secureCredentialsDir(paths: StackPaths): string {
  return join(paths.stateDir, "credentials");
}

function kafkaService(
  paths: StackPaths,
  name: "kafka" | "kafka-secure" = "kafka",
  brokerPort = 9092,
  controllerPort = 9093,
): ServiceDefinition {
  const serviceDir = join(paths.stackDir, name);
  const service: ServiceDefinition = {
    name,
    title: `Kafka ${stackVersions.kafka}`,
    address: `${stackHost}:${brokerPort}`,
    ports: [
      { port: brokerPort, role: "broker" },
      { port: controllerPort, role: "controller" },
    ],
    artifact: {
      cacheName: `kafka-${stackVersions.kafka}`,
      label: `Kafka ${stackVersions.kafka}`,
      coordinates: `org.apache.kafka:kafka_2.13:${stackVersions.kafka}`,
      source: { kind: "pom-dependencies", pomFile: join(paths.deployDir, "kafka", "pom.xml") },
    },
    serviceDir,
    pidFile: join(serviceDir, "pid"),
    logFile: join(serviceDir, "server.log"),
    outputFile: join(serviceDir, "output.log"),
    dataDir: join(serviceDir, "data"),
    javaArguments: (artifactDir) => [
      "-Xms256m",
      "-Xmx512m",
      "-Djava.awt.headless=true",
      ownershipFlag(name),
      `-Dlog4j2.configurationFile=${join(serviceDir, "log4j2.properties")}`,
      `-Dkafka.logs.dir=${serviceDir}`,
      "-cp",
      join(artifactDir, "*"),
      "kafka.Kafka",
      join(serviceDir, "server.properties"),
    ],
    probe: () => probeKafkaBroker(stackHost, brokerPort),
    restartWhenUnresponsive: false,
    startedLogLine: "Kafka Server started",
  };
  service.prepare = (artifactDir, options) => prepareKafka(service, artifactDir, options);
  return service;
}

function registryService(paths: StackPaths): ServiceDefinition {
  const serviceDir = join(paths.stackDir, "registry");
  const version = stackVersions.apicurioRegistry;
  return {
    name: "registry",
    title: `Apicurio Registry ${version}`,
    address: stackEndpoints.schemaRegistryUrl,
    ports: [{ port: 8081, role: "http" }],
    artifact: {
      cacheName: `apicurio-registry-${version}`,
      label: `Apicurio Registry ${version}`,
      coordinates: `io.apicurio:apicurio-registry-app:${version}:tar.gz:all`,
      source: { kind: "tar.gz", coordinates: `io.apicurio:apicurio-registry-app:${version}:tar.gz:all` },
    },
    serviceDir,
    pidFile: join(serviceDir, "pid"),
    logFile: join(serviceDir, "output.log"),
    outputFile: join(serviceDir, "output.log"),
    dataDir: join(serviceDir, "data"),
    javaArguments: (artifactDir) => [
      "-Xmx384m",
      ...lightJvmFlags,
      ownershipFlag("registry"),
      `-Dquarkus.http.host=${stackHost}`,
      "-Dquarkus.http.port=8081",
      "-Dapicurio.storage.kind=sql",
      "-Dapicurio.storage.sql.kind=h2",
      // On disk like Kafka's data, so messages written before a restart keep schema ids the registry knows.
      `-Dapicurio.datasource.url=jdbc:h2:file:${join(serviceDir, "data", "registry")}`,
      "-Dapicurio.rest.deletion.group.enabled=true",
      "-Dapicurio.rest.deletion.artifact.enabled=true",
      "-Dapicurio.rest.deletion.artifact-version.enabled=true",
      "-jar",
      join(artifactDir, `apicurio-registry-app-${version}-runner.jar`),
    ],
    probe: () => probeHttp(`${stackEndpoints.schemaRegistryUrl}/subjects`),
    restartWhenUnresponsive: false,
    startedLogLine: undefined,
  };
}

/** How the local Zipkin keeps spans: in memory, at most this many (its MEM_MAX_SPANS), in a heap sized for them. */
export const zipkinMemory = { maxSpans: 50_000, heap: "512m" } as const;

/**
 * The JVM and Zipkin arguments of a Zipkin server on `port`. Zipkin keeps at most `maxSpans` spans in memory
 * (`zipkin.storage.mem.max-spans`, dropping the oldest traces past it): its default of 500,000 does not fit a small
 * heap, and a load run filled 256 MB until it ran out of memory and stopped answering. Should it still run out, the
 * JVM exits (ExitOnOutOfMemoryError) instead of living on unable to answer, and `baton stack up` starts it again.
 */
export function zipkinArguments(options: {
  jarFile: string;
  port: number;
  maxSpans?: number;
  heap?: string;
  extraJvmFlags?: string[];
}): string[] {
  return [
    `-Xmx${options.heap ?? zipkinMemory.heap}`,
    "-XX:+ExitOnOutOfMemoryError",
    ...lightJvmFlags,
    ...(options.extraJvmFlags ?? []),
    "-jar",
    options.jarFile,
    "--zipkin.storage.type=mem",
    `--zipkin.storage.mem.max-spans=${options.maxSpans ?? zipkinMemory.maxSpans}`,
    `--armeria.ports[0].ip=${stackHost}`,
    `--armeria.ports[0].port=${options.port}`,
    "--armeria.ports[0].protocols[0]=http",
  ];
}

function zipkinService(paths: StackPaths): ServiceDefinition {
  const serviceDir = join(paths.stackDir, "zipkin");
  const version = stackVersions.zipkin;
  return {
    name: "zipkin",
    title: `Zipkin ${version}`,
    address: stackEndpoints.zipkinUrl,
    ports: [{ port: 9411, role: "http" }],
    artifact: {
      cacheName: `zipkin-server-${version}`,
      label: `Zipkin ${version}`,
      coordinates: `io.zipkin:zipkin-server:${version}:jar:exec`,
      source: { kind: "file", coordinates: `io.zipkin:zipkin-server:${version}:jar:exec` },
    },
    serviceDir,
    pidFile: join(serviceDir, "pid"),
    logFile: join(serviceDir, "output.log"),
    outputFile: join(serviceDir, "output.log"),
    dataDir: undefined,
    javaArguments: (artifactDir) =>
      zipkinArguments({
        jarFile: join(artifactDir, `zipkin-server-${version}-exec.jar`),
        port: 9411,
        extraJvmFlags: [ownershipFlag("zipkin")],
      }),
    probe: () => probeHttp(`${stackEndpoints.zipkinUrl}/health`),
    startedLogLine: undefined,
    restartWhenUnresponsive: true,
  };
}
