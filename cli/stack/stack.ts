import { mkdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { cachedArtifactDir, ensureArtifact } from "./artifact-cache.ts";
import type { ArtifactCacheOptions, ArtifactSpec } from "./artifact-cache.ts";
import { checkJava } from "./java-version.ts";
import { logContainsSince, readLogTail } from "./log-tail.ts";
import { readPidFile, removePidFile, writePidFile } from "./pid-file.ts";
import { isPortFree, portOwnerHint } from "./port-check.ts";
import { isOwnedProcess, isProcessAlive, spawnDetached, stopProcess } from "./process-control.ts";
import type { StopOutcome } from "./process-control.ts";
import { StackError } from "./stack-errors.ts";
import { resolveSecureStackPaths, resolveStackPaths, type StackPaths } from "./stack-paths.ts";
import {
  kafkaToolsArtifact,
  secureKafkaService,
  secureStackServices,
  stackEndpoints,
  stackHost,
  stackServices,
} from "./stack-services.ts";
import type { ServiceDefinition, ServiceName, ServicePort } from "./stack-services.ts";
import { waitUntil } from "./wait-until.ts";

/**
 * running: started by this stack and answering; external: answering, but not started by this stack (for example the
 * docker compose stack); starting: started by this stack, not answering yet; unresponsive: started by this stack
 * longer ago than a start may take, alive but not answering (hung, or out of memory); stopped: neither.
 */
export type ServiceState = "running" | "external" | "starting" | "unresponsive" | "stopped";

/** One service as `baton stack status` sees it. */
export interface ServiceStatus {
  name: ServiceName;
  title: string;
  state: ServiceState;
  /** The pid this stack started it as; null when it did not start it or it is gone. */
  pid: number | null;
  address: string;
  ports: ServicePort[];
  /** The service's own log. */
  logFile: string;
  /** The process's stdout and stderr (the same file as logFile for services that log to the console). */
  outputFile: string;
  dataDir: string | null;
}

/** The whole stack: ready when every service answers. */
export interface StackStatus {
  ready: boolean;
  /** The `.baton` folder in use. */
  stateDir: string;
  endpoints: { kafkaBootstrapServers: string; schemaRegistryUrl: string; zipkinUrl: string };
  services: ServiceStatus[];
  /** A java classpath (`<dir>/*`) with Kafka's admin tools, e.g. org.apache.kafka.tools.TopicCommand; null until downloaded. */
  kafkaToolsClasspath: string | null;
}

/** Where the stack keeps its state. */
export interface StackOptions {
  /** Overrides the `.baton` folder at the repository root (`.baton-secure` with `secure`). */
  stateDir?: string | undefined;
  /** The secured stack: its own SASL/SCRAM broker with ACLs, sharing the plain stack's registry and Zipkin. */
  secure?: boolean | undefined;
}

/** The stack's folders and services, plain or secured. */
function stackLayout(options: StackOptions): { paths: StackPaths; services: ServiceDefinition[] } {
  if (options.secure !== true) {
    const paths = resolveStackPaths(options.stateDir);
    return { paths, services: stackServices(paths) };
  }
  const paths = resolveSecureStackPaths(options.stateDir);
  return { paths, services: secureStackServices(paths, resolveStackPaths()) };
}

/** How `stackUp` reports and what it runs. */
export interface StackUpOptions extends StackOptions {
  /** Receives one human-readable line per step (downloading, starting, ready). */
  onProgress?: (line: string) => void;
  /** The java executable; Java 17 or newer. Default "java". */
  javaCommand?: string;
  /** The Maven executable, needed only to download. Default "mvn". */
  mavenCommand?: string;
  /** How long each service may take to answer after it starts. Default 120 s. */
  readyTimeoutMs?: number;
}

/** How `stackDown` reports and how patient it is. */
export interface StackDownOptions extends StackOptions {
  onProgress?: (line: string) => void;
  /** How long a service may take to exit after SIGTERM before it gets SIGKILL. Default 30 s. */
  stopTimeoutMs?: number;
}

/** What happened to one service on `stackDown`. */
export interface StoppedService {
  name: ServiceName;
  title: string;
  pid: number | null;
  outcome: StopOutcome | "not-running";
}

/** What `stackDown` did. */
export interface StackDownResult {
  services: StoppedService[];
}

const defaultReadyTimeoutMs = 120_000;
const defaultStopTimeoutMs = 30_000;
const logTailLines = 25;

/** Reports each service's state without changing anything. */
export async function stackStatus(options: StackOptions = {}): Promise<StackStatus> {
  const layout = stackLayout(options);
  const { paths } = layout;
  const services = await Promise.all(layout.services.map(inspectService));
  const toolsDir = await cachedArtifactDir(kafkaToolsArtifact(paths), paths.cacheDir);
  return {
    ready: services.every((service) => service.state === "running" || service.state === "external"),
    stateDir: paths.stateDir,
    endpoints: { ...stackEndpoints, kafkaBootstrapServers: layout.services[0]?.address ?? "" },
    services,
    kafkaToolsClasspath: toolsDir === undefined ? null : join(toolsDir, "*"),
  };
}

/** True when Kafka, the schema registry and Zipkin all answer on their local ports, whoever started them. */
export async function isStackReady(options: StackOptions = {}): Promise<boolean> {
  const probes = await Promise.all(stackLayout(options).services.map((service) => service.probe()));
  return probes.every(Boolean);
}

/**
 * Starts whatever part of the stack is not running (downloading it from Maven Central the first time) and waits until
 * every service answers. Idempotent: running services are left alone, a service whose process died is started again.
 */
export async function stackUp(options: StackUpOptions = {}): Promise<StackStatus> {
  const progress = options.onProgress ?? (() => {});
  const javaCommand = options.javaCommand ?? "java";
  const { paths, services } = stackLayout(options);
  const initial = await Promise.all(services.map(inspectService));

  const toStart: ServiceDefinition[] = [];
  const toRestart: ServiceDefinition[] = [];
  const toAwait: Launched[] = [];
  services.forEach((service, index) => {
    const status = initial[index];
    switch (status?.state) {
      case "stopped":
        toStart.push(service);
        break;
      case "unresponsive":
        if (service.restartWhenUnresponsive) {
          progress(`${service.title} (pid ${status.pid}) stopped answering; starting it again…`);
          toRestart.push(service);
        } else {
          progress(`${service.title} (pid ${status.pid}) is not answering; waiting for it…`);
          if (status.pid !== null)
            toAwait.push({ service, pid: status.pid, logOffset: undefined, startedAt: performance.now() });
        }
        break;
      case "starting":
        progress(`${service.title} is still starting (pid ${status.pid})…`);
        if (status.pid !== null)
          toAwait.push({ service, pid: status.pid, logOffset: undefined, startedAt: performance.now() });
        break;
      case "running":
        progress(`${service.title} already running at ${service.address} (pid ${status.pid})`);
        break;
      case "external":
        progress(
          `${service.title}: a process not started by baton stack already answers at ${service.address}; using it`,
        );
        break;
      case undefined:
        break;
    }
  });

  for (const service of toRestart) {
    await stopService(service, defaultStopTimeoutMs, progress);
    toStart.push(service);
  }
  if (toStart.length > 0) {
    await checkJava(javaCommand);
    await assertPortsFree(toStart);
    await mkdir(paths.cacheDir, { recursive: true });
    const cacheOptions: ArtifactCacheOptions = {
      cacheDir: paths.cacheDir,
      mavenCommand: options.mavenCommand ?? "mvn",
      onProgress: progress,
    };
    const artifactDirs: string[] = [];
    for (const service of toStart) artifactDirs.push(await ensureArtifact(service.artifact, cacheOptions));
    await ensureKafkaTools(kafkaToolsArtifact(paths), cacheOptions);
    for (const [index, service] of toStart.entries()) {
      const artifactDir = artifactDirs[index];
      if (artifactDir !== undefined) toAwait.push(await launch(service, artifactDir, javaCommand, progress));
    }
  }

  const outcomes = await Promise.allSettled(
    toAwait.map((launched) => awaitReady(launched, options.readyTimeoutMs ?? defaultReadyTimeoutMs, progress)),
  );
  const failure = outcomes.find((outcome) => outcome.status === "rejected");
  if (failure !== undefined) throw failure.reason;
  return stackStatus(options);
}

/** Stops exactly the processes this stack started (by their pid files), SIGTERM first, SIGKILL after a timeout. */
export async function stackDown(options: StackDownOptions = {}): Promise<StackDownResult> {
  const progress = options.onProgress ?? (() => {});
  // The secured stack stops its own broker only: the registry and Zipkin belong to the plain stack.
  const services =
    options.secure === true
      ? [secureKafkaService(resolveSecureStackPaths(options.stateDir))]
      : stackServices(resolveStackPaths(options.stateDir));
  const outcomes = await Promise.allSettled(
    services.map((service) => stopService(service, options.stopTimeoutMs ?? defaultStopTimeoutMs, progress)),
  );
  const failure = outcomes.find((outcome) => outcome.status === "rejected");
  if (failure !== undefined) throw failure.reason;
  return { services: outcomes.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value] : [])) };
}

interface Launched {
  service: ServiceDefinition;
  pid: number;
  /** Where the service's log ended before this start; the started line must come after it. */
  logOffset: number | undefined;
  startedAt: number;
}

async function inspectService(service: ServiceDefinition): Promise<ServiceStatus> {
  const recorded = await readPidFile(service.pidFile);
  const [owned, answering, startedAt] = await Promise.all([
    recorded === undefined ? Promise.resolve(false) : isOwnedProcess(recorded, service.name),
    service.probe(),
    stat(service.pidFile).then(
      (file) => file.mtimeMs,
      () => undefined,
    ),
  ]);
  const startedLongAgo = startedAt !== undefined && Date.now() - startedAt > defaultReadyTimeoutMs;
  const state: ServiceState = owned
    ? answering
      ? "running"
      : startedLongAgo
        ? "unresponsive"
        : "starting"
    : answering
      ? "external"
      : "stopped";
  return {
    name: service.name,
    title: service.title,
    state,
    pid: owned && recorded !== undefined ? recorded : null,
    address: service.address,
    ports: service.ports,
    logFile: service.logFile,
    outputFile: service.outputFile,
    dataDir: service.dataDir ?? null,
  };
}

async function assertPortsFree(services: readonly ServiceDefinition[]): Promise<void> {
  for (const service of services) {
    for (const { port, role } of service.ports) {
      if (!(await isPortFree(stackHost, port))) {
        throw new StackError(
          "PORT_IN_USE",
          `port ${port} (${service.title} ${role}) is taken by a process baton stack did not start; find it with: ${portOwnerHint(port)}`,
        );
      }
    }
  }
}

async function ensureKafkaTools(spec: ArtifactSpec, options: ArtifactCacheOptions): Promise<void> {
  try {
    await ensureArtifact(spec, options);
  } catch (error) {
    if (!(error instanceof StackError) || error.code !== "DOWNLOAD_FAILED") throw error;
    options.onProgress(`warning: ${error.message} (the stack runs without them)`);
  }
}

async function launch(
  service: ServiceDefinition,
  artifactDir: string,
  javaCommand: string,
  progress: (line: string) => void,
): Promise<Launched> {
  await mkdir(service.serviceDir, { recursive: true });
  await removePidFile(service.pidFile);
  await service.prepare?.(artifactDir, { javaCommand, onProgress: progress });
  await keepPrevious(service.outputFile);
  const logOffset = await fileSize(service.logFile);
  progress(`starting ${service.title}…`);
  let pid: number;
  try {
    pid = await spawnDetached(javaCommand, service.javaArguments(artifactDir), {
      cwd: service.serviceDir,
      logFile: service.outputFile,
    });
  } catch (error) {
    throw new StackError(
      "START_FAILED",
      `could not start ${service.title}: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
  await writePidFile(service.pidFile, pid);
  return { service, pid, logOffset, startedAt: performance.now() };
}

async function awaitReady(launched: Launched, timeoutMs: number, progress: (line: string) => void): Promise<void> {
  const { service, pid, logOffset, startedAt } = launched;
  const ready = await waitUntil(
    async () => {
      if (!isProcessAlive(pid)) {
        await removePidFile(service.pidFile);
        throw new StackError(
          "START_FAILED",
          `${service.title} (pid ${pid}) exited while starting; read ${service.logFile}, fix the cause, then run baton stack up again`,
          { details: await describeLogs(service, logOffset) },
        );
      }
      if (!(await service.probe())) return false;
      if (service.startedLogLine === undefined || logOffset === undefined) return true;
      return logContainsSince(service.logFile, service.startedLogLine, logOffset);
    },
    { timeoutMs, intervalMs: 250 },
  );
  if (!ready) {
    throw new StackError(
      "READY_TIMEOUT",
      `${service.title} (pid ${pid}) did not answer at ${service.address} within ${Math.round(timeoutMs / 1000)}s; read ${service.logFile}, then run baton stack down and baton stack up`,
      { details: await describeLogs(service, logOffset) },
    );
  }
  progress(`${service.title} ready in ${((performance.now() - startedAt) / 1000).toFixed(1)}s`);
}

async function stopService(
  service: ServiceDefinition,
  graceMs: number,
  progress: (line: string) => void,
): Promise<StoppedService> {
  const pid = await readPidFile(service.pidFile);
  const base = { name: service.name, title: service.title };
  if (pid === undefined) return { ...base, pid: null, outcome: "not-running" };
  if (!(await isOwnedProcess(pid, service.name))) {
    await removePidFile(service.pidFile);
    return { ...base, pid, outcome: "not-running" };
  }
  progress(`stopping ${service.title} (pid ${pid})…`);
  let outcome: StopOutcome;
  try {
    outcome = await stopProcess(pid, graceMs);
  } catch (error) {
    throw new StackError(
      "STOP_FAILED",
      `${service.title} (pid ${pid}) is still running after SIGKILL; check it with: ps -p ${pid}`,
      {
        cause: error,
      },
    );
  }
  await removePidFile(service.pidFile);
  return { ...base, pid, outcome };
}

async function describeLogs(service: ServiceDefinition, logOffset: number | undefined): Promise<string> {
  const files = service.logFile === service.outputFile ? [service.logFile] : [service.logFile, service.outputFile];
  const sections: string[] = [];
  for (const file of files) {
    const lines = await readLogTail(file, logTailLines, file === service.logFile ? (logOffset ?? 0) : 0);
    if (lines.length > 0) sections.push(`last lines of ${file}:\n${lines.map((line) => `  ${line}`).join("\n")}`);
  }
  return sections.length > 0 ? sections.join("\n") : `(no log output in ${files.join(" or ")})`;
}

async function keepPrevious(file: string): Promise<void> {
  try {
    await rename(file, `${file}.previous`);
  } catch (error) {
    if (!(error instanceof Error && "code" in error && error.code === "ENOENT")) throw error;
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}
