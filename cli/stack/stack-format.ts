import { isAbsolute, relative } from "node:path";
import type { StageProcessStatus } from "./pipeline-processes.ts";
import type { StackDownResult, StackStatus, ServiceState, ServiceStatus } from "./stack.ts";
import { instanceName } from "./stage-instances.ts";
import { stageNames } from "../stage-commands.ts";

const stateWords: Record<ServiceState, string> = {
  running: "running",
  external: "answering (not started by baton stack)",
  starting: "starting",
  unresponsive: "not answering (alive but hung; read its log)",
  stopped: "stopped",
};

/** A path as short as it can be shown: relative to `cwd` when it lies below it. */
export function displayPath(path: string, cwd: string): string {
  const relativePath = relative(cwd, path);
  return relativePath.length > 0 && !relativePath.startsWith("..") && !isAbsolute(relativePath) ? relativePath : path;
}

/** Lines describing one service: state, address, pid, then where its logs and data are. */
export function formatService(service: ServiceStatus, cwd: string): string[] {
  const extraPorts = service.ports.slice(1).map((port) => `${port.role} :${port.port}`);
  const extras = extraPorts.length > 0 ? ` (${extraPorts.join(", ")})` : "";
  const pid = service.pid === null ? "" : `, pid ${service.pid}`;
  const where =
    service.state === "stopped"
      ? `(serves ${service.address}${extras} when up)`
      : `at ${service.address}${extras}${pid}`;
  const lines = [`${service.title}: ${stateWords[service.state]} ${where}`];
  const logs = service.logFile === service.outputFile ? [service.logFile] : [service.logFile, service.outputFile];
  lines.push(`  logs: ${logs.map((file) => displayPath(file, cwd)).join(", ")}`);
  if (service.dataDir !== null) lines.push(`  data: ${displayPath(service.dataDir, cwd)}`);
  return lines;
}

/** The full report of `baton stack status` and the end of `baton stack up`. */
export function formatStatus(status: StackStatus, cwd: string): string[] {
  const lines = status.services.flatMap((service) => formatService(service, cwd));
  if (status.kafkaToolsClasspath !== null) {
    lines.push(
      `Kafka admin tools: java -cp '${displayPath(status.kafkaToolsClasspath, cwd)}' org.apache.kafka.tools.TopicCommand --bootstrap-server ${status.endpoints.kafkaBootstrapServers} --list`,
    );
  }
  return lines;
}

/** One line naming where each service answers, for `baton stack up --quiet-if-running`. */
export function formatOneLine(status: StackStatus): string {
  return `stack already running: ${status.services.map((service) => `${service.name} ${service.address}`).join(", ")}`;
}

/** What `baton stack down` prints. */
export function formatDown(result: StackDownResult): string[] {
  return result.services.map((service) => {
    switch (service.outcome) {
      case "terminated":
        return `stopped ${service.title} (pid ${service.pid})`;
      case "killed":
        return `killed ${service.title} (pid ${service.pid}) after it ignored SIGTERM`;
      case "already-gone":
        return `${service.title} (pid ${service.pid}) had already exited`;
      case "not-running":
        return `${service.title} was not running`;
    }
  });
}

/** The background stage instances of `baton stack status`: a line per instance, or one saying a stage is not running. */
export function formatPipelineStatus(instances: StageProcessStatus[], cwd: string): string[] {
  return stageNames.flatMap((stage) => {
    const own = instances.filter((instance) => instance.stage === stage);
    if (own.length === 0) return [`${stage}: not running`];
    return own.map((instance) => {
      const state = instance.running
        ? `running, pid ${instance.pid ?? "?"}, metrics :${instance.metricsPort}`
        : "not running";
      return `${instanceName(stage, instance.instance)}: ${state} (log ${displayPath(instance.logFile, cwd)})`;
    });
  });
}
