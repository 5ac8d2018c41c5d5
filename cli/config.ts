import { z } from "zod";
import { backboneConfigSchema, parseConfig, type BackboneConfig } from "../shared/config.ts";

/** The CLI's own settings on top of the backbone's: who signs what it writes. */
export const cliConfigSchema = backboneConfigSchema
  .extend({
    /** The principal `baton submit` and `baton approve|reject` sign as (a name in the policy file's principals). */
    BATON_PRINCIPAL: z.string().min(1).optional(),
    /** Its Ed25519 private key, as `baton keys create` writes it. */
    BATON_SIGNING_KEY_FILE: z.string().min(1).optional(),
  })
  .superRefine((config, context) => {
    if ((config.BATON_PRINCIPAL === undefined) !== (config.BATON_SIGNING_KEY_FILE === undefined)) {
      const missing = config.BATON_PRINCIPAL === undefined ? "BATON_PRINCIPAL" : "BATON_SIGNING_KEY_FILE";
      context.addIssue({
        code: "custom",
        path: [missing],
        message:
          "BATON_PRINCIPAL and BATON_SIGNING_KEY_FILE are set together (create a key with: baton keys create <name>)",
      });
    }
  });

/** The CLI's settings. */
export type CliConfig = BackboneConfig & z.output<typeof cliConfigSchema>;

/** The CLI's settings: the backbone's and its own, read from the environment once (with `overrides` on top). */
export function loadCliConfig(overrides: Record<string, string> = {}): CliConfig {
  return parseConfig(cliConfigSchema, { ...process.env, ...overrides });
}
