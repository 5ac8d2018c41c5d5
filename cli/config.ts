import { backboneConfigSchema, parseConfig, type BackboneConfig } from "../shared/config.ts";

/** The CLI's settings: the backbone's, read from the environment once. */
export function loadCliConfig(): BackboneConfig {
  return parseConfig(backboneConfigSchema, process.env);
}
