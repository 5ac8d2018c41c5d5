import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { adminPrincipal, principalAccess } from "../../shared/topics.ts";
import { StackError } from "./stack-errors.ts";

/** The controller listener's own PLAIN user on the secured stack (a super user; never a client's). */
export const controllerPrincipal = "baton-controller";

/** Every SCRAM user of the secured stack: the admin, then one per principal of the access list. */
export function scramPrincipals(): string[] {
  return [adminPrincipal, ...principalAccess.map((access) => access.principal)];
}

/** Where a principal's password file is. */
export function passwordFile(credentialsDir: string, principal: string): string {
  return join(credentialsDir, `${principal}.password`);
}

/**
 * The password of each principal of the secured stack, generated once (hex, 24 random bytes) into files of mode
 * 0600 that only their owner reads. A broker already formatted keeps the passwords it was formatted with: a missing
 * file then cannot be made up again.
 */
export async function ensureCredentials(credentialsDir: string, formatted: boolean): Promise<Map<string, string>> {
  await mkdir(credentialsDir, { recursive: true, mode: 0o700 });
  await chmod(credentialsDir, 0o700);
  const passwords = new Map<string, string>();
  for (const principal of [...scramPrincipals(), controllerPrincipal]) {
    const file = passwordFile(credentialsDir, principal);
    let password: string | undefined;
    try {
      password = (await readFile(file, "utf8")).trim();
    } catch (error) {
      if (!(error instanceof Error && "code" in error && error.code === "ENOENT")) throw error;
    }
    if (password === undefined || password.length === 0) {
      if (formatted && principal !== controllerPrincipal) {
        throw new StackError(
          "START_FAILED",
          `${file} is missing but the secured broker was formatted with it; remove ${credentialsDir}/.. and run baton stack up --secure again`,
        );
      }
      password = randomBytes(24).toString("hex");
      await writeFile(file, `${password}\n`, { mode: 0o600 });
    }
    await chmod(file, 0o600);
    passwords.set(principal, password);
  }
  return passwords;
}
