/** What workflow templates and conditions read: the request and each step's status, output and error. */
export interface TemplateSource {
  requestId: string;
  tenant: string;
  input: string;
  workflow: string | null;
  metadata?: Record<string, string>;
  steps: Array<{ stepId: string; status: string; output: string | null; error: string | null }>;
}

function parseOutput(output: string | null): unknown {
  if (output === null) return null;
  try {
    return JSON.parse(output);
  } catch {
    return output;
  }
}

/** Builds `{ request: {...}, steps: { <id>: { status, output, error } } }` for `{{ path }}` references. */
export function templateData(source: TemplateSource): unknown {
  const steps: Record<string, unknown> = {};
  for (const step of source.steps) {
    steps[step.stepId] = { status: step.status, output: parseOutput(step.output), error: step.error };
  }
  return {
    request: {
      requestId: source.requestId,
      tenant: source.tenant,
      input: source.input,
      workflow: source.workflow,
      metadata: source.metadata ?? {},
    },
    steps,
  };
}
