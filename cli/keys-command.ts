import type { Command } from "commander";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BatonError } from "../shared/errors.ts";
import { generateSigningKeys } from "../shared/security/record-signature.ts";
import { runAction } from "./run-action.ts";
import { repositoryRoot } from "./stack/stack-paths.ts";

/** What `baton keys create` made: where the private key is, and the policy file entry for the public one. */
export interface CreatedKey {
  keyFile: string;
  policyEntry: string;
}

/**
 * Makes a signing key pair for a principal: the private key in `<dir>/<principal>.key` (mode 0600, never
 * overwritten), the public key as the policy file entry that names what the principal may do.
 */
export async function createKey(
  principal: string,
  options: { dir: string; submit: string[]; approve: string[] },
): Promise<CreatedKey> {
  if (!/^[A-Za-z0-9._@-]+$/u.test(principal)) {
    throw new BatonError("INVALID_INPUT", `principal names are letters, digits and . _ @ -, not "${principal}"`);
  }
  const { privateKeyPem, publicKey } = generateSigningKeys();
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  const keyFile = join(options.dir, `${principal}.key`);
  try {
    await writeFile(keyFile, privateKeyPem, { mode: 0o600, flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new BatonError("INVALID_INPUT", `${keyFile} exists; remove it first to make a new key for ${principal}`);
    }
    throw error;
  }
  const list = (tenants: string[]): string => `[${tenants.join(", ")}]`;
  const policyEntry = [
    "principals:",
    `  ${principal}:`,
    `    publicKey: ${publicKey}`,
    `    submit: ${list(options.submit)}`,
    `    approve: ${list(options.approve)}`,
  ].join("\n");
  return { keyFile, policyEntry };
}

const tenantList = (value: string): string[] =>
  value
    .split(",")
    .map((tenant) => tenant.trim())
    .filter((tenant) => tenant !== "");

/** `baton keys create`. */
export function registerKeysCommands(program: Command): void {
  const keys = program.command("keys").description("signing keys of the people and services that write to Baton");
  keys
    .command("create")
    .description("make a principal's signing key and print its policy file entry")
    .argument("<principal>", "the writer's name, as the policy file will know it")
    .option("--dir <dir>", "where to write <principal>.key", join(repositoryRoot, ".baton", "keys"))
    .option("--submit <tenants>", "tenants it may submit requests for (comma-separated)", tenantList, [])
    .option("--approve <tenants>", "tenants whose calls it may approve (comma-separated)", tenantList, [])
    .action(
      runAction(async (principal: string, options: { dir: string; submit: string[]; approve: string[] }) => {
        const created = await createKey(principal, { ...options, dir: resolve(options.dir) });
        process.stdout.write(
          [
            `wrote ${created.keyFile} (the private key: keep it on ${principal}'s machine only)`,
            "",
            "add to the policy file (and restart planner and policy):",
            created.policyEntry,
            "",
            `then sign what ${principal} writes with:`,
            `  export BATON_PRINCIPAL=${principal} BATON_SIGNING_KEY_FILE=${created.keyFile}`,
            "",
          ].join("\n"),
        );
      }),
    );
}
