import {
  adminPrincipal,
  deadLetterTopicName,
  principalAccess,
  retryTopicName,
  topics,
  type PrincipalAccess,
} from "../topics.ts";

/** What an ACL is about. The cluster resource is always named `kafka-cluster`. */
export type AclResourceType = "TOPIC" | "GROUP" | "TRANSACTIONAL_ID" | "CLUSTER";

/** What an ACL allows. READ and WRITE imply DESCRIBE (Kafka's rule), so DESCRIBE is never granted alone here. */
export type AclOperation = "READ" | "WRITE" | "IDEMPOTENT_WRITE";

/** One ALLOW rule, from any host. */
export interface AclEntry {
  principal: string;
  resourceType: AclResourceType;
  /** LITERAL names one resource; PREFIXED every resource whose name starts with it. */
  patternType: "LITERAL" | "PREFIXED";
  resourceName: string;
  operation: AclOperation;
}

/** The topics a consumed topic brings along: its retry topics (read and written) and dead letter (written). */
function retryAndDeadLetter(topic: string): { retries: string[]; deadLetter: string[] } {
  const declaration = topics.find((candidate) => candidate.name === topic);
  if (declaration === undefined) throw new Error(`${topic} is not a declared topic (shared/topics.ts)`);
  return {
    retries: declaration.retryDelaysMs.map((delay) => retryTopicName(topic, delay)),
    deadLetter: declaration.deadLetter ? [deadLetterTopicName(topic)] : [],
  };
}

/** The ACLs of one principal, derived from its declared access. */
export function aclsOf(access: PrincipalAccess): AclEntry[] {
  const principal = `User:${access.principal}`;
  const entries: AclEntry[] = [];
  const add = (
    resourceType: AclResourceType,
    resourceName: string,
    operation: AclOperation,
    patternType: AclEntry["patternType"] = "LITERAL",
  ): void => {
    const exists = entries.some(
      (entry) =>
        entry.resourceType === resourceType &&
        entry.resourceName === resourceName &&
        entry.operation === operation &&
        entry.patternType === patternType,
    );
    if (!exists) entries.push({ principal, resourceType, patternType, resourceName, operation });
  };
  for (const topic of access.consumes) {
    const { retries, deadLetter } = retryAndDeadLetter(topic);
    add("TOPIC", topic, "READ");
    for (const retry of retries) {
      add("TOPIC", retry, "READ");
      add("TOPIC", retry, "WRITE");
    }
    for (const letter of deadLetter) add("TOPIC", letter, "WRITE");
  }
  for (const topic of [...access.tables, ...access.reads]) add("TOPIC", topic, "READ");
  for (const topic of access.writes) {
    retryAndDeadLetter(topic);
    add("TOPIC", topic, "WRITE");
  }
  if (access.consumes.length > 0) add("GROUP", access.principal, "READ");
  for (const topic of access.tables) add("GROUP", `baton-table-${topic}-`, "READ", "PREFIXED");
  for (const prefix of access.readGroupPrefixes) add("GROUP", prefix, "READ", "PREFIXED");
  if (access.transactional) add("TRANSACTIONAL_ID", `${access.principal}-p`, "WRITE", "PREFIXED");
  // Every Baton producer is idempotent (producer.ts).
  if (access.writes.length > 0) add("CLUSTER", "kafka-cluster", "IDEMPOTENT_WRITE");
  return entries;
}

/** Every ACL of a secured Baton cluster: the declared principals' (the admin is a super user and needs none). */
export function batonAcls(accesses: readonly PrincipalAccess[] = principalAccess): AclEntry[] {
  return accesses.flatMap(aclsOf);
}

/** Whether the ACLs allow a principal an operation on a resource (READ and WRITE imply DESCRIBE). */
export function isAllowed(
  entries: readonly AclEntry[],
  request: {
    principal: string;
    resourceType: AclResourceType;
    resourceName: string;
    operation: AclOperation | "DESCRIBE";
  },
): boolean {
  if (request.principal === adminPrincipal) return true;
  return entries.some(
    (entry) =>
      entry.principal === `User:${request.principal}` &&
      entry.resourceType === request.resourceType &&
      (entry.patternType === "LITERAL"
        ? entry.resourceName === request.resourceName
        : request.resourceName.startsWith(entry.resourceName)) &&
      (entry.operation === request.operation ||
        (request.operation === "DESCRIBE" && (entry.operation === "READ" || entry.operation === "WRITE"))),
  );
}

/** The ACL table for people: one row per principal and resource, operations joined, in Markdown. */
export function renderAclTable(accesses: readonly PrincipalAccess[] = principalAccess): string[] {
  const lines = ["| Principal | Resource | Name | Operations |", "| --- | --- | --- | --- |"];
  lines.push(`| \`User:${adminPrincipal}\` | cluster | (super user: \`super.users\`) | all |`);
  for (const access of accesses) {
    const rows = new Map<string, string[]>();
    for (const entry of aclsOf(access)) {
      const name = entry.patternType === "PREFIXED" ? `\`${entry.resourceName}*\`` : `\`${entry.resourceName}\``;
      const key = `${resourceLabel[entry.resourceType]} | ${name}`;
      rows.set(key, [...(rows.get(key) ?? []), entry.operation]);
    }
    for (const [key, operations] of rows)
      lines.push(`| \`User:${access.principal}\` | ${key} | ${operations.join(", ")} |`);
  }
  return lines;
}

const resourceLabel: Record<AclResourceType, string> = {
  TOPIC: "topic",
  GROUP: "group",
  TRANSACTIONAL_ID: "transactional id",
  CLUSTER: "cluster",
};
