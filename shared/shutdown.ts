import type { Logger } from "./telemetry/logger.ts";

/** One step of an orderly stop, run in the order registered. */
export interface ShutdownStep {
  name: string;
  run: () => Promise<void>;
}

/**
 * On SIGTERM or SIGINT, runs the steps in order (stop consuming and finish in-flight work, commit,
 * flush the producer, flush spans) and exits 0; a second signal or a step past the deadline exits 1.
 */
export function handleShutdown(options: { logger: Logger; steps: ShutdownStep[]; deadlineMs?: number }): void {
  let stopping = false;
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) {
      options.logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    options.logger.info({ signal }, "shutting down");
    const deadline = setTimeout(() => {
      options.logger.error("shutdown deadline passed: exiting");
      process.exit(1);
    }, options.deadlineMs ?? 30_000);
    deadline.unref();
    let failed = false;
    for (const step of options.steps) {
      try {
        await step.run();
      } catch (error) {
        failed = true;
        options.logger.error({ err: error, step: step.name }, "shutdown step failed");
      }
    }
    options.logger.info("stopped");
    process.exit(failed ? 1 : 0);
  };
  process.once("SIGTERM", (signal) => void stop(signal));
  process.once("SIGINT", (signal) => void stop(signal));
}
