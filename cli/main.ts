import { Command } from "commander";
import { registerStackCommands } from "./stack/stack-command.ts";
import { registerTopicsCommands } from "./topics-command.ts";
import { registerSchemasCommands } from "./schemas-command.ts";
import { registerStageCommands } from "./stage-commands.ts";
import { registerSubmitCommands } from "./submit-command.ts";
import { registerApprovalCommands } from "./approval-commands.ts";
import { registerDemoCommand } from "./demo-command.ts";
import { registerScaleCommand } from "./scale-command.ts";
import { registerDlqCommands } from "./dlq-command.ts";
import { registerTraceCommand } from "./trace-command.ts";
import { registerTopCommand } from "./top-command.ts";
import { registerKeysCommands } from "./keys-command.ts";
import { registerAclsCommands } from "./acls-command.ts";
import { registerHistoryCommand } from "./history-command.ts";
import { registerRewindCommand } from "./rewind-command.ts";
import { registerTriggersCommand } from "./triggers-command.ts";
import { registerReplayCommand } from "./replay-command.ts";
import { registerMcpCommand } from "./mcp-command.ts";

/** Builds the `baton` program; each command group registers itself from its own file. */
export function buildProgram(): Command {
  const program = new Command("baton")
    .description("Baton: a Kafka-native orchestration layer for AI agents and MCP tools")
    .showHelpAfterError("(run baton --help for usage)")
    .configureOutput({ outputError: (text, write) => write(text) })
    .exitOverride((error) => {
      process.exit(error.exitCode === 0 ? 0 : 2);
    });
  registerStackCommands(program);
  registerTopicsCommands(program);
  registerSchemasCommands(program);
  registerStageCommands(program);
  registerSubmitCommands(program);
  registerApprovalCommands(program);
  registerDlqCommands(program);
  registerTraceCommand(program);
  registerTopCommand(program);
  registerAclsCommands(program);
  registerHistoryCommand(program);
  registerRewindCommand(program);
  registerReplayCommand(program);
  registerDemoCommand(program);
  registerScaleCommand(program);
  registerKeysCommands(program);
  registerTriggersCommand(program);
  registerMcpCommand(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
