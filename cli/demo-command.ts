import type { Command } from "commander";
import { TopicWatcher } from "../shared/kafka/topic-watcher.ts";
import type { Response } from "../shared/schemas/records.ts";
import { openClient } from "./client.ts";
import { formatResponse } from "./response-format.ts";
import { runAction } from "./run-action.ts";
import { bringUpStack } from "./stack/stack-command.ts";
import { startPipeline, waitForInstances } from "./stack/pipeline-processes.ts";
import { instanceHttpPort, instanceName } from "./stack/stage-instances.ts";
import type { StageName } from "./stage-commands.ts";
import { secureStackEnv, secureStackEnvLines } from "./stack/secure-env.ts";
import { resolveSecureStackPaths } from "./stack/stack-paths.ts";
import { submitRequest, type SubmitOptions } from "./submit-command.ts";

/** The example requests the demo sends, from the seed's customer-support story. */
export const demoRequests: Array<{ title: string; input: string; options: SubmitOptions }> = [
  {
    title: "A question the knowledge base answers",
    input: "How long does shipping take?",
    options: { tenant: "demo", metadata: {} },
  },
  {
    title: "A damaged order: knowledge base, then a ticket, then an email; the answer passes PII and compliance rules",
    input: "My order #1234 arrived damaged and I want a refund",
    options: { tenant: "demo", metadata: { customerEmail: "ann@example.com" } },
  },
  {
    title: "A small refund, issued at once (large ones wait for `baton approve`)",
    input: "Refund order 1234",
    options: { tenant: "demo", workflow: "refund", metadata: { orderId: "1234", amount: "30" } },
  },
  {
    title: "A trial tenant may not send email: the call is denied and the response says so",
    input: "My order #77 arrived broken",
    options: { tenant: "trial", metadata: { customerEmail: "bob@example.com" } },
  },
  {
    title: "An unknown tenant is refused",
    input: "How long does shipping take?",
    options: { tenant: "nobody", metadata: {} },
  },
];

/** `baton demo`: the stack, the four stages in the background, and the example requests with their answers. */
export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("bring up the stack, the four stages and the gateway, send the example requests and print each answer")
    .option("--secure", "on the secured local broker (SCRAM, ACLs), each stage as its own principal")
    .addHelpText(
      "after",
      "\nThe stack and the stages keep running afterwards; try `baton submit`, and stop all of it with `baton stack down`.\n\nExample:\n  $ baton demo\n",
    )
    .action(
      runAction(async (options: { secure?: boolean }) => {
        const secure = options.secure === true;
        await bringUpStack({ quietIfRunning: true, secure });
        console.log(
          `starting the pipeline: planner, policy, executor, summarizer, gateway${secure ? ", each as its own principal" : ""}`,
        );
        // On the secured broker each stage signs in as its own principal, with exactly the ACLs it needs; the
        // gateway submits requests, as the submitter.
        const principalOf = (stage: StageName): string => (stage === "gateway" ? "baton-submitter" : `baton-${stage}`);
        const stages = secure
          ? await startPipeline((stage) => secureStackEnv(principalOf(stage)), resolveSecureStackPaths().stateDir)
          : await startPipeline();
        await waitForInstances(stages, 90_000);
        for (const stage of stages) {
          const name = instanceName(stage.stage, stage.instance);
          console.log(
            `  ${name.padEnd(13)} pid ${stage.pid ?? "?"}  metrics :${stage.metricsPort}  log ${stage.logFile}`,
          );
        }
        const gateway = `http://127.0.0.1:${instanceHttpPort(1)}`;
        console.log(`HTTP API: ${gateway}/v1/requests  (OpenAPI: ${gateway}/openapi.json)`);
        console.log(`MCP server: ${gateway}/mcp  (Streamable HTTP; header X-Baton-Tenant: demo; or stdio: baton mcp)`);

        // The demo's requests go in as the submitter, who may write requests and read responses, nothing else.
        const client = await openClient(secure ? secureStackEnv("baton-submitter") : {});
        const { kafka, codec } = client.backbone;
        const watcher = new TopicWatcher<Response>({ kafka, codec, topic: "baton.responses" });
        try {
          await watcher.start();
          for (const example of demoRequests) {
            console.log(`\n== ${example.title}`);
            const request = await submitRequest(client, example.input, example.options);
            const response = await watcher.waitFor(request.requestId, 60_000);
            for (const line of formatResponse(response.value, request)) console.log(line);
          }
        } finally {
          await watcher.stop();
          await client.close();
        }
        console.log("\nThe stack, the four stages and the gateway keep running in the background. Try:");
        if (secure) {
          console.log("  # as the submitter (the only principal that may write requests):");
          for (const line of secureStackEnvLines("baton-submitter")) console.log(`  ${line}`);
          console.log('  npx baton submit "Where is my order?" --meta customerEmail=you@example.com --wait');
          console.log("  npx baton stack down --secure # stop the secured broker and these stages");
        } else {
          console.log('  npx baton submit "Where is my order?" --meta customerEmail=you@example.com --wait');
          console.log("  npx baton scale executor 3 # three executors sharing the work");
          console.log("  npx baton stack status     # what runs, where it logs");
          console.log("  npx baton stack down       # stop all of it");
        }
        if (!secure) {
          console.log(
            `  curl -s ${gateway}/v1/requests -H 'content-type: application/json' -d '{"tenant":"demo","input":"How long does shipping take?"}'`,
          );
          console.log(`  curl -N ${gateway}/v1/requests/<requestId>/events   # its progress as Server-Sent Events`);
        }
        console.log("Traces: http://127.0.0.1:9411");
      }),
    );
}
