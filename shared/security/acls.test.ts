import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { executorTopics } from "../../services/executor/executor.ts";
import { plannerTopics } from "../../services/planner/planner.ts";
import { policyTopics } from "../../services/policy/policy.ts";
import { summarizerTopics } from "../../services/summarizer/summarizer.ts";
import { fromRoot } from "../paths.ts";
import { principalAccess } from "../topics.ts";
import { batonAcls, isAllowed, renderAclTable, type AclOperation } from "./acls.ts";

const acls = batonAcls();
const may = (principal: string, operation: AclOperation | "DESCRIBE", topic: string): boolean =>
  isAllowed(acls, { principal, resourceType: "TOPIC", resourceName: topic, operation });

describe("ACLs made from the topic list", () => {
  it("the executor may write baton.tool-outcomes and may not write baton.allowed-calls", () => {
    expect(may("baton-executor", "WRITE", "baton.tool-outcomes")).toBe(true);
    expect(may("baton-executor", "READ", "baton.allowed-calls")).toBe(true);
    expect(may("baton-executor", "WRITE", "baton.allowed-calls")).toBe(false);
    expect(may("baton-executor", "READ", "baton.requests")).toBe(false);
  });

  it("a stage reads and writes the retry topics of its inputs and writes their dead letters, nobody else's", () => {
    expect(may("baton-planner", "READ", "baton.requests.retry.10s")).toBe(true);
    expect(may("baton-planner", "WRITE", "baton.requests.retry.10s")).toBe(true);
    expect(may("baton-planner", "WRITE", "baton.requests.dlq")).toBe(true);
    expect(may("baton-policy", "WRITE", "baton.requests.dlq")).toBe(false);
    expect(may("baton-executor", "WRITE", "baton.tool-calls.retry.1s")).toBe(false);
  });

  it("the submitter writes requests and reads responses, and may not write approvals", () => {
    expect(may("baton-submitter", "WRITE", "baton.requests")).toBe(true);
    expect(may("baton-submitter", "READ", "baton.responses")).toBe(true);
    expect(may("baton-submitter", "WRITE", "baton.approvals")).toBe(false);
    // The gateway runs as a submitter: run state for get_request, but no tool outcomes and no writes to run state.
    expect(may("baton-submitter", "READ", "baton.runs")).toBe(true);
    expect(may("baton-submitter", "WRITE", "baton.runs")).toBe(false);
    expect(may("baton-submitter", "READ", "baton.tool-outcomes")).toBe(false);
    expect(may("baton-submitter", "READ", "baton.events")).toBe(true);
    expect(may("baton-submitter", "WRITE", "baton.events")).toBe(false);
    expect(may("baton-approver", "WRITE", "baton.approvals")).toBe(true);
    expect(may("baton-approver", "WRITE", "baton.requests")).toBe(false);
  });

  it("each stage has its own group and transactional ids, and its tables' groups", () => {
    const group = (principal: string, name: string): boolean =>
      isAllowed(acls, { principal, resourceType: "GROUP", resourceName: name, operation: "READ" });
    const transactionalId = (principal: string, id: string): boolean =>
      isAllowed(acls, { principal, resourceType: "TRANSACTIONAL_ID", resourceName: id, operation: "WRITE" });
    expect(group("baton-planner", "baton-planner")).toBe(true);
    expect(group("baton-planner", "baton-policy")).toBe(false);
    expect(group("baton-executor", "baton-table-baton.tool-outcomes-4f1c")).toBe(true);
    expect(group("baton-executor", "baton-table-baton.runs-4f1c")).toBe(false);
    expect(transactionalId("baton-summarizer", "baton-summarizer-p11")).toBe(true);
    expect(transactionalId("baton-summarizer", "baton-planner-p0")).toBe(false);
    expect(transactionalId("baton-submitter", "baton-submitter-p0")).toBe(false);
  });

  it("each stage may write every topic its logic names in its *Topics", () => {
    const written = {
      planner: plannerTopics,
      policy: policyTopics,
      executor: executorTopics,
      summarizer: summarizerTopics,
    };
    for (const [stage, names] of Object.entries(written)) {
      for (const topic of Object.values(names))
        expect(may(`baton-${stage}`, "WRITE", topic), `${stage} → ${topic}`).toBe(true);
    }
  });

  it("every principal is declared once", () => {
    const names = principalAccess.map((access) => access.principal);
    expect(new Set(names).size).toBe(names.length);
  });

  it("the README's ACL table is the one the topic list makes (regenerate with `baton acls print --update-readme`)", () => {
    const readme = readFileSync(fromRoot("README.md"), "utf8");
    const start = readme.indexOf("<!-- acl-table:start -->");
    const end = readme.indexOf("<!-- acl-table:end -->");
    expect(start, "README.md has no <!-- acl-table:start --> marker").toBeGreaterThan(-1);
    // Cells compared trimmed, so Prettier may align the README's columns.
    const cells = (line: string): string[] => line.split("|").map((cell) => cell.trim().replace(/^-+$/, "---"));
    const table = readme
      .slice(start, end)
      .split("\n")
      .filter((line) => line.startsWith("|"))
      .map(cells);
    expect(table).toEqual(renderAclTable().map(cells));
  });
});
