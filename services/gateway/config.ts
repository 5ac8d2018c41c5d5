import { z } from "zod";
import { backboneConfigSchema, refineSigningKey, signingKeyShape } from "../../shared/config.ts";
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
    ...signingKeyShape,
  })
  .superRefine(refineSigningKey);

/** The gateway's parsed settings. */
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
