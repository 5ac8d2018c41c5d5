import type { RunView } from "./recorded-run.ts";
import type { ReplayedCall } from "./replay-engine.ts";

/** The parts of a run a replay compares, in the order they are printed. */
export const viewParts = ["plan", "steps", "decisions", "answer"] as const;

/** One part that differs: the lines only the original had, and those only the replay has. */
export interface PartDiff {
  part: (typeof viewParts)[number];
  removed: string[];
  added: string[];
}

/** How one request's replay went. */
export interface RequestVerdict {
  requestId: string;
  verdict: "same" | "changed" | "failed";
  diffs: PartDiff[];
  /** Calls the original did not make (or made with other arguments): never sent to a tool with side effects. */
  newCalls: ReplayedCall[];
  /** Calls answered from the original's recorded outcomes, and read-only calls made live. */
  recordedCalls: number;
  readOnlyCalls: number;
  /** Why it failed to replay, or did not reach an answer. */
  error?: string;
  /** How long the original took, submitted to answered (ms), when it was answered. */
  originalMs?: number;
}

/** Lines of `a` not matched by a line of `b`, each line matching once (a multiset difference, order kept). */
function minus(a: readonly string[], b: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const line of b) left.set(line, (left.get(line) ?? 0) + 1);
  return a.filter((line) => {
    const count = left.get(line) ?? 0;
    if (count === 0) return true;
    left.set(line, count - 1);
    return false;
  });
}

/** The parts of two views that differ. Lines that only moved count as a change of the plan or the steps. */
export function diffViews(original: RunView, replayed: RunView): PartDiff[] {
  return viewParts.flatMap((part) => {
    const before = original[part];
    const after = replayed[part];
    if (before.length === after.length && before.every((line, index) => line === after[index])) return [];
    const removed = minus(before, after);
    const added = minus(after, before);
    return [
      removed.length === 0 && added.length === 0
        ? { part, removed: [`(order) ${before.join(" | ")}`], added: [`(order) ${after.join(" | ")}`] }
        : { part, removed, added },
    ];
  });
}

/** Human lines for one request's verdict: `same`, or `changed` with the diff of each part that changed. */
export function formatVerdict(verdict: RequestVerdict): string[] {
  const calls = `${verdict.recordedCalls} call${verdict.recordedCalls === 1 ? "" : "s"} answered from the record`;
  const readOnly = verdict.readOnlyCalls === 0 ? "" : `, ${verdict.readOnlyCalls} read-only call(s) made`;
  if (verdict.verdict === "failed") return [`${verdict.requestId}  failed to replay: ${verdict.error ?? "unknown"}`];
  if (verdict.verdict === "same") return [`${verdict.requestId}  same  (${calls}${readOnly})`];
  const lines = [`${verdict.requestId}  changed  (${calls}${readOnly})`];
  if (verdict.error !== undefined) lines.push(`  note: ${verdict.error}`);
  for (const diff of verdict.diffs) {
    lines.push(`  ${diff.part}:`);
    for (const line of diff.removed) lines.push(`    - ${line}`);
    for (const line of diff.added) lines.push(`    + ${line}`);
  }
  if (verdict.newCalls.length > 0) {
    lines.push("  new calls (not sent to their tools):");
    for (const call of verdict.newCalls) lines.push(`    ${call.stepId} ${call.tool} ${call.arguments}`);
  }
  return lines;
}

/** The summary of a window: how many requests replayed the same, changed, or failed to replay. */
export function formatSummary(verdicts: readonly RequestVerdict[]): string[] {
  const count = (kind: RequestVerdict["verdict"]) => verdicts.filter((verdict) => verdict.verdict === kind).length;
  const row = [String(count("same")), String(count("changed")), String(count("failed"))];
  const head = ["same", "changed", "failed to replay"];
  const widths = head.map((text, index) => Math.max(text.length, row[index]?.length ?? 0));
  const line = (cells: string[]) => cells.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join("  ");
  return [line(head), line(row)];
}
