import { z } from "zod";
import { backboneConfigSchema } from "../../../shared/config.ts";
import { fromRoot } from "../../../shared/paths.ts";
import { defaultTriggersGroupId } from "./index.ts";

/** The environment of `baton triggers`, the triggers run as a process of their own (the gateway runs them too). */
export const triggersConfigSchema = backboneConfigSchema
  .extend({
    /** Folders of workflow files, comma-separated: the same the planner loads. */
    WORKFLOWS_DIR: z
      .string()
      .min(1)
      .default(fromRoot("workflows"))
      .transform((value) =>
        value
          .split(",")
          .map((part) => part.trim())
          .filter((part) => part.length > 0),
      ),
    /** Consumer group of the topic triggers; every instance of the same workflows shares it. */
    TRIGGERS_GROUP_ID: z.string().min(1).default(defaultTriggersGroupId),
    /** Port of /metrics, /healthz and /readyz. */
    METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9469),
    /** The principal the requests are signed as, when the policy file declares principals. */
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
        message: "BATON_PRINCIPAL and BATON_SIGNING_KEY_FILE are set together",
      });
    }
  });

/** The parsed settings of `baton triggers`. */
export type TriggersConfig = z.output<typeof triggersConfigSchema>;
