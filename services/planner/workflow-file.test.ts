import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it, expect } from "vitest";
import { BatonError } from "../../shared/errors.ts";
import { fromRoot } from "../../shared/paths.ts";
import { graphProblems, loadWorkflows, parseWorkflow, type WorkflowStep } from "./workflow-file.ts";

function thrown(run: () => unknown): BatonError {
  try {
    run();
  } catch (error) {
    if (error instanceof BatonError) return error;
    throw error;
  }
  throw new Error("expected a BatonError, nothing was thrown");
}

const valid = `
name: lookup-and-ticket
match: { keywords: [order] }
steps:
  - id: search
    tool: knowledge-base/search
    arguments: { query: "{{ request.input }}" }
  - id: ticket
    tool: ticketing/create_ticket
    needs: [search]
    when: { path: steps.search.output.found, equals: false }
    arguments: { subject: "{{ steps.search.output.summary }}" }
answer:
  - text: "done"
`;

/** A workflow of the given steps, in YAML; each step is `id: [needs...] arguments`. */
function workflowYaml(steps: string): string {
  return `name: graph\nsteps:\n${steps}`;
}

describe("parseWorkflow", () => {
  it("fills defaults: no needs, empty arguments, a 30 s timeout, priority 0, an empty description", () => {
    const workflow = parseWorkflow(valid, "w.yaml");
    expect(workflow.description).toBe("");
    expect(workflow.match).toEqual({ keywords: ["order"], priority: 0 });
    expect(workflow.steps[0]).toMatchObject({ id: "search", needs: [], timeoutMs: 30_000 });
    expect(workflow.steps[1]?.when).toEqual({ path: "steps.search.output.found", equals: false });
    expect(workflow.answer).toEqual([{ text: "done" }]);
  });

  it("names the file and each schema problem", () => {
    const error = thrown(() =>
      parseWorkflow(
        `
name: Bad Name
steps:
  - id: Search
    tool: no-slash
    timeoutMs: -1
    retries: 3
`,
        "workflows/bad.yaml",
      ),
    );
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.message.startsWith("workflows/bad.yaml:")).toBe(true);
    for (const fragment of [
      "name: workflow names are lowercase words joined by dashes",
      "steps.0.id: step ids are lowercase words joined by dashes",
      "steps.0.tool: tools are named <server>/<tool>",
      "steps.0.timeoutMs",
      "retries",
    ]) {
      expect(error.message).toContain(fragment);
    }
  });

  it("refuses a workflow with no steps", () => {
    expect(thrown(() => parseWorkflow("name: empty\nsteps: []\n", "empty.yaml")).message).toContain("steps");
  });

  it("names the file when the text is not YAML", () => {
    expect(thrown(() => parseWorkflow("name: [", "broken.yaml")).message).toContain("broken.yaml: not valid YAML");
  });

  it("refuses a step declared twice", () => {
    const text = workflowYaml(`  - { id: a, tool: s/t }\n  - { id: a, tool: s/u }\n`);
    expect(thrown(() => parseWorkflow(text, "w.yaml")).message).toContain("step a is declared twice");
  });

  it("refuses a step that needs an unknown step", () => {
    const text = workflowYaml(`  - { id: a, tool: s/t, needs: [nowhere] }\n`);
    expect(thrown(() => parseWorkflow(text, "w.yaml")).message).toContain("step a needs unknown step nowhere");
  });

  it("refuses arguments that read a step the step does not need", () => {
    const text = workflowYaml(
      `  - { id: a, tool: s/t }\n  - { id: b, tool: s/t, arguments: { x: "{{ steps.a.output.x }}" } }\n`,
    );
    expect(thrown(() => parseWorkflow(text, "w.yaml")).message).toContain(
      "step b refers to steps.a but does not (transitively) need it",
    );
  });

  it("refuses an answer part that refers to a step the workflow does not declare", () => {
    const text = `${workflowYaml("  - { id: search, tool: s/t }\n")}answer:\n  - text: "{{ steps.serch.output.answer }}"\n`;
    expect(thrown(() => parseWorkflow(text, "w.yaml")).message).toContain("answer part 1 refers to unknown step serch");
  });

  it("refuses a condition that reads a step the step does not need", () => {
    const text = workflowYaml(
      `  - { id: a, tool: s/t }\n  - { id: b, tool: s/t, when: { not: { path: steps.a.status, equals: FAILED } } }\n`,
    );
    expect(thrown(() => parseWorkflow(text, "w.yaml")).message).toContain("step b refers to steps.a");
  });

  it("accepts a reference to a step needed through another step", () => {
    const text = workflowYaml(
      [
        "  - { id: a, tool: s/t }",
        "  - { id: b, tool: s/t, needs: [a] }",
        '  - { id: c, tool: s/t, needs: [b], arguments: { x: "{{ steps.a.output.x }}" } }',
        "",
      ].join("\n"),
    );
    expect(parseWorkflow(text, "w.yaml").steps.map((step) => step.id)).toEqual(["a", "b", "c"]);
  });

  it("refuses steps that need each other in a cycle and shows the cycle", () => {
    const text = workflowYaml(
      `  - { id: a, tool: s/t, needs: [c] }\n  - { id: b, tool: s/t, needs: [a] }\n  - { id: c, tool: s/t, needs: [b] }\n`,
    );
    expect(thrown(() => parseWorkflow(text, "w.yaml")).message).toMatch(/steps form a cycle: a -> c -> b -> a/);
  });
});

describe("graphProblems", () => {
  const step = (id: string, needs: string[]): WorkflowStep => ({
    id,
    tool: "s/t",
    needs,
    arguments: {},
    timeoutMs: 1000,
  });

  it("finds nothing wrong with a diamond", () => {
    expect(
      graphProblems({ steps: [step("a", []), step("b", ["a"]), step("c", ["a"]), step("d", ["b", "c"])] }),
    ).toEqual([]);
  });

  it("reports a step that needs itself as a cycle", () => {
    expect(graphProblems({ steps: [step("a", ["a"])] })).toContain("steps form a cycle: a -> a");
  });
});

describe("loadWorkflows", () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), "baton-workflows-"));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it("the shipped workflows folder loads customer-support and refund", async () => {
    const workflows = await loadWorkflows([fromRoot("workflows")]);
    expect([...workflows.keys()].sort()).toEqual(["customer-support", "refund"]);
  });

  it("loads the .yaml and .yml files of several folders and ignores other files", async () => {
    const second = join(directory, "more");
    await mkdir(second);
    await writeFile(join(directory, "one.yaml"), "name: one\nsteps: [{ id: a, tool: s/t }]\n");
    await writeFile(join(directory, "notes.md"), "name: not-a-workflow\n");
    await writeFile(join(second, "two.yml"), "name: two\nsteps: [{ id: a, tool: s/t }]\n");
    const workflows = await loadWorkflows([directory, second]);
    expect([...workflows.keys()].sort()).toEqual(["one", "two"]);
  });

  it("names every invalid file and a workflow name declared twice", async () => {
    const second = join(directory, "more");
    await mkdir(second);
    await writeFile(join(directory, "one.yaml"), "name: same\nsteps: [{ id: a, tool: s/t }]\n");
    await writeFile(join(second, "again.yaml"), "name: same\nsteps: [{ id: a, tool: s/t }]\n");
    await writeFile(join(directory, "broken.yaml"), "name: broken\nsteps: []\n");
    const failure = loadWorkflows([directory, second]);
    await expect(failure).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    const message = await failure.catch((error: unknown) => (error as Error).message);
    expect(message).toContain(join(directory, "broken.yaml"));
    expect(message).toContain(`${join(second, "again.yaml")}: workflow same is declared twice`);
  });

  it("refuses a folder with no workflows", async () => {
    await expect(loadWorkflows([directory])).rejects.toThrow(`no workflows in ${directory}`);
  });

  it("names a folder that cannot be read", async () => {
    const missing = join(directory, "missing");
    await expect(loadWorkflows([missing])).rejects.toThrow(`cannot read workflows folder ${missing}`);
  });
});
