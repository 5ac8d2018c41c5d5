import { z } from "zod";
import { backboneConfigSchema, refineSigningKey, signingKeyShape, workflowsDirKey } from "../../../shared/config.ts";
import { defaultTriggersGroupId } from "./index.ts";

/** The environment of `baton triggers`, the triggers run as a process of their own (the gateway runs them too). */
export const triggersConfigSchema = backboneConfigSchema
  .extend({
    /** Folders of workflow files, comma-separated: the same the planner loads. */
    WORKFLOWS_DIR: workflowsDirKey,
    /** Consumer group of the topic triggers; every instance of the same workflows shares it. */
    TRIGGERS_GROUP_ID: z.string().min(1).default(defaultTriggersGroupId),
    /** Port of /metrics, /healthz and /readyz. */
    METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9469),
    ...signingKeyShape,
  })
  .superRefine(refineSigningKey);

/** The parsed settings of `baton triggers`. */
export type TriggersConfig = z.output<typeof triggersConfigSchema>;
