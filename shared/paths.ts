import { fileURLToPath } from "node:url";

/** The repository root, where the shipped workflows/, policies/ and config/ live. */
export const repositoryRoot = fileURLToPath(new URL("..", import.meta.url));

/** A path under the repository root. */
export function fromRoot(...parts: string[]): string {
  return [repositoryRoot.replace(/\/$/, ""), ...parts].join("/");
}
