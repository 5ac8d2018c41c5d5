import { readFile, writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { kafkaConnectionOf } from "../shared/backbone.ts";
import type { BackboneConfig } from "../shared/config.ts";
import { BatonAdmin } from "../shared/kafka/admin.ts";
import { createKafka, kafkaAccessError } from "../shared/kafka/client.ts";
import { fromRoot } from "../shared/paths.ts";
import { batonAcls, renderAclTable } from "../shared/security/acls.ts";
import { createLogger } from "../shared/telemetry/logger.ts";
import { loadCliConfig } from "./config.ts";
import { runAction } from "./run-action.ts";

const readmeStart = "<!-- acl-table:start -->";
const readmeEnd = "<!-- acl-table:end -->";

/** Creates every ACL the topic list makes (as the admin principal); returns how many rules it asked for. */
export async function applyDeclaredAcls(config: BackboneConfig = loadCliConfig()): Promise<number> {
  const logger = createLogger({ service: "baton-cli", level: "fatal" });
  const entries = batonAcls();
  try {
    const admin = await BatonAdmin.connect(createKafka(kafkaConnectionOf(config, "baton-cli", logger)));
    try {
      await admin.createAcls(entries);
    } finally {
      await admin.disconnect();
    }
  } catch (error) {
    throw kafkaAccessError(error, config.KAFKA_SASL_USERNAME) ?? error;
  }
  return entries.length;
}

/** Rewrites the README's ACL table (between its acl-table markers) from the topic list. */
async function updateReadme(): Promise<void> {
  const file = fromRoot("README.md");
  const readme = await readFile(file, "utf8");
  const start = readme.indexOf(readmeStart);
  const end = readme.indexOf(readmeEnd);
  if (start === -1 || end < start) throw new Error(`README.md has no ${readmeStart} … ${readmeEnd} section`);
  const table = ["", ...renderAclTable(), ""].join("\n");
  await writeFile(file, `${readme.slice(0, start + readmeStart.length)}${table}${readme.slice(end)}`);
}

/** `baton acls print|apply`: the ACLs of a secured cluster, made from shared/topics.ts. */
export function registerAclsCommands(program: Command): void {
  const acls = program
    .command("acls")
    .description("the Kafka ACLs each Baton principal needs, made from the topic list (shared/topics.ts)");

  acls
    .command("print")
    .description("print every principal's ACLs as a Markdown table")
    .option("--json", "print the ACL entries as JSON")
    .option("--update-readme", "rewrite the table in README.md's Security section instead of printing")
    .addHelpText("after", "\nExamples:\n  $ baton acls print\n  $ baton acls print --json | jq length\n")
    .action(
      runAction(async (options: { json?: boolean; updateReadme?: boolean }) => {
        if (options.updateReadme === true) return updateReadme();
        if (options.json === true) console.log(JSON.stringify(batonAcls(), null, 2));
        else for (const line of renderAclTable()) console.log(line);
        return Promise.resolve();
      }),
    );

  acls
    .command("apply")
    .description("create the ACLs on the cluster KAFKA_BROKERS names, as a principal that may (a super user)")
    .addHelpText(
      "after",
      "\nIdempotent: existing rules are left as they are; rules not made by Baton are never removed.\n\n" +
        "Example:\n  $ KAFKA_BROKERS=kafka:9093 KAFKA_SASL_MECHANISM=scram-sha-512 KAFKA_SASL_USERNAME=baton-admin \\\n" +
        "    KAFKA_SASL_PASSWORD_FILE=/run/secrets/baton-admin baton acls apply\n",
    )
    .action(
      runAction(async () => {
        const count = await applyDeclaredAcls();
        console.log(`acls: ${count} rules applied`);
      }),
    );
}
