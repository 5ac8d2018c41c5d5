import { z } from "zod";
import { backboneConfigSchema, refineSigningKey, signingKeyShape, workflowsDirKey } from "../../../shared/config.ts";
import { fromRoot } from "../../../shared/paths.ts";

/** The MCP gateway's environment (for `baton mcp` and the gateway's `/mcp`). */
export const mcpConfigSchema = backboneConfigSchema
  .extend({
    /** Folders of workflow files, comma-separated: `run_workflow` offers their names. */
    WORKFLOWS_DIR: workflowsDirKey,
    /** The policy file: its tenants, their tools and their gateway tokens. */
    POLICY_FILE: z.string().min(1).default(fromRoot("policies", "default.yaml")),
    ...signingKeyShape,
    /** `baton mcp`'s bearer token, mapped to a tenant by the policy file (instead of `--tenant`). */
    BATON_MCP_TOKEN: z.string().min(1).optional(),
    /**
     * How long a tool call waits for its run's response before it answers with the requestId to ask `get_request`
     * about (the client may give up sooner; the run goes on either way).
     */
    MCP_WAIT_MS: z.coerce.number().int().positive().max(3_600_000).default(600_000),
  })
  .superRefine(refineSigningKey);

/** The MCP gateway's parsed settings. */
export type McpConfig = z.output<typeof mcpConfigSchema>;
