import type { z } from "zod";
import {
  backboneConfigSchema,
  parseConfig,
  type BackboneConfig,
  refineSigningKey,
  signingKeyShape,
} from "../shared/config.ts";

/** The CLI's own settings on top of the backbone's: who signs what it writes. */
export const cliConfigSchema = backboneConfigSchema
  .extend({
    ...signingKeyShape,
  })
  .superRefine(refineSigningKey);

/** The CLI's settings. */
export type CliConfig = BackboneConfig & z.output<typeof cliConfigSchema>;

/** The CLI's settings: the backbone's and its own, read from the environment once (with `overrides` on top). */
export function loadCliConfig(overrides: Record<string, string> = {}): CliConfig {
  return parseConfig(cliConfigSchema, { ...process.env, ...overrides });
}
