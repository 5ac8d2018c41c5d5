import { z } from "zod";
import { backboneConfigSchema } from "../../shared/config.ts";
import { defaultTriggersGroupId } from "./triggers/index.ts";

/** The gateway's environment: where its HTTP API listens, and who signs the requests it submits. */
export const gatewayConfigSchema = backboneConfigSchema
  .extend({
    GATEWAY_HOST: z.string().min(1).default("127.0.0.1"),
    /** Port of the HTTP API (`/v1/requests`, `/openapi.json`, `/mcp`). */
    GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    /** Port of /metrics, /healthz and /readyz, as every stage has. */
    METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9468),
    /** How long a POST waits for Kafka to take the request before answering 503. */
    GATEWAY_SUBMIT_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5_000),
    /** Consumer group of the workflows' topic triggers; every gateway shares it, so a record fires on one. */
    TRIGGERS_GROUP_ID: z.string().min(1).default(defaultTriggersGroupId),
    /** The principal the gateway signs requests as (a name in the policy file's principals), with its key file. */
    BATON_PRINCIPAL: z.string().min(1).optional(),
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

/** The gateway's parsed settings. */
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
