import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root folder, found from this module's location so the CLI works from any working directory. */
export const repositoryRoot: string = fileURLToPath(new URL("../..", import.meta.url));

/** Where the local stack keeps downloads, configuration, logs, data and pid files. */
export interface StackPaths {
  /** The `.baton` folder (git-ignored). */
  stateDir: string;
  /** Downloaded artifacts, one folder per artifact and version. */
  cacheDir: string;
  /** One folder per service: its pid file, logs, configuration and data. */
  stackDir: string;
  /** The Maven project files in deploy/local/. */
  deployDir: string;
}

/** Resolves the stack's folders; `stateDir` overrides the default `.baton/` at the repository root. */
export function resolveStackPaths(stateDir?: string): StackPaths {
  const state = stateDir ?? join(repositoryRoot, ".baton");
  return {
    stateDir: state,
    cacheDir: join(state, "cache"),
    stackDir: join(state, "stack"),
    deployDir: join(repositoryRoot, "deploy", "local"),
  };
}

/**
 * The secured stack's folders (`baton stack up --secure`): its own state, beside the plain stack's, so both run at
 * once; downloads are shared with the plain stack's cache.
 */
export function resolveSecureStackPaths(stateDir?: string): StackPaths {
  const state = stateDir ?? join(repositoryRoot, ".baton-secure");
  return { ...resolveStackPaths(state), cacheDir: resolveStackPaths().cacheDir };
}
