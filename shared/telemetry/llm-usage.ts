/** Tokens one language-model call used, and whose request it served. */
export interface LlmUsage {
  tenant: string;
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
}

type Listener = (usage: LlmUsage) => void;

const listeners = new Set<Listener>();

/** Reports one call's usage to every listener (a stage's metrics); the LLM client does not know the stage's registry. */
export function reportLlmUsage(usage: LlmUsage): void {
  for (const listener of listeners) listener(usage);
}

/** Listens to every call's usage in this process until the returned function is called. */
export function onLlmUsage(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
