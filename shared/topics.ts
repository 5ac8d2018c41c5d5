import type { RecordName } from "./schemas/records.ts";

/**
 * The declarative list of Baton's topics: the one place a topic, its layout, its value record and its
 * retry and dead-letter topics are named. `baton topics apply` makes the cluster match it.
 */
export interface TopicDeclaration {
  name: string;
  /** What flows on it, for people reading this file and `baton topics list`. */
  description: string;
  partitions: number;
  /** -1 keeps messages forever. */
  retentionMs: number;
  /** `compact,delete`: the latest value per key, forgotten once older than the retention. */
  cleanupPolicy: "delete" | "compact" | "compact,delete";
  /** Avro record of message values; registered under subject `<name>-value`. */
  valueRecord: RecordName;
  /** Delays of the consuming stage's retry topics `<name>.retry.<delay>`, shortest first. */
  retryDelaysMs: readonly number[];
  /** Whether the consuming stage has a dead-letter topic `<name>.dlq`. */
  deadLetter: boolean;
}

const day = 24 * 60 * 60 * 1000;

/**
 * How long what replay needs is kept: the one retention setting to change (then `baton topics apply`). The
 * per-request topics (a request's story, which `baton history` reads and `baton rewind` reads again) and the dead
 * letters keep it; run state and idempotency records keep it and a day more ({@link stateRetentionMs}), so nothing
 * that can bring a request or a call back (a duplicate submitted, a rewind, a dead letter redriven) outlives the
 * records that stop a side effect from happening twice.
 */
export const replayRetentionMs = 14 * day;

/** How long dead letters are kept: no longer than the records a redrive relies on. */
export const deadLetterRetentionMs = replayRetentionMs;

/**
 * How long run state and idempotency records are kept: longer than anything that can bring a request or call back,
 * by a day (a call's records are written before its dead letter; a redriven letter may wait in a retry topic).
 * Older ones are forgotten by the broker (`compact,delete`) and by the stages' in-memory tables.
 */
export const stateRetentionMs = replayRetentionMs + day;

/** Retry topics hold a message for its delay only; a week covers a stage stopped for days. */
const retryRetentionMs = 7 * day;

/** The policy decisions are the audit trail: kept 30 days, or as long as replay if that is longer. */
const auditRetentionMs = Math.max(30 * day, replayRetentionMs);

/** Default retry ladder of a stage: 1 s, 10 s, 60 s, then the dead letter. */
export const defaultRetryDelaysMs = [1_000, 10_000, 60_000] as const;

/**
 * Partitions of every per-request topic, the one place they are set. The per-request topics are co-partitioned
 * (a request's messages stay on one partition number), so this bounds how many instances of a stage share the
 * work: up to 12 each. `baton topics apply` refuses to change it on a cluster that holds runs (see README).
 */
export const requestPartitions = 12;

function pipelineTopic(
  name: string,
  valueRecord: RecordName,
  description: string,
  options: Partial<
    Pick<TopicDeclaration, "cleanupPolicy" | "retentionMs" | "retryDelaysMs" | "deadLetter" | "partitions">
  > = {},
): TopicDeclaration {
  return {
    name,
    description,
    valueRecord,
    partitions: options.partitions ?? requestPartitions,
    retentionMs: options.retentionMs ?? replayRetentionMs,
    cleanupPolicy: options.cleanupPolicy ?? "delete",
    retryDelaysMs: options.retryDelaysMs ?? defaultRetryDelaysMs,
    deadLetter: options.deadLetter ?? true,
  };
}

/** Every topic Baton's live pipeline uses, in the order a request meets them. Keys are requestIds unless said. */
const liveTopics: readonly TopicDeclaration[] = [
  pipelineTopic("baton.requests", "baton.Request", "Work submitted by any Kafka client (planner reads)"),
  pipelineTopic("baton.tool-calls", "baton.ToolCall", "Planned tool steps, before policy (policy reads)"),
  pipelineTopic(
    "baton.approval-requests",
    "baton.ApprovalRequest",
    "Calls waiting for a person; key = requestId/stepId",
    {
      cleanupPolicy: "compact",
      retentionMs: -1,
      retryDelaysMs: [],
      deadLetter: false,
    },
  ),
  pipelineTopic("baton.approvals", "baton.ApprovalDecision", "Answers of `baton approve|reject` (policy reads)"),
  pipelineTopic("baton.allowed-calls", "baton.ToolCall", "Calls policy cleared to run (executor reads)"),
  pipelineTopic(
    "baton.tool-intents",
    "baton.ToolCall",
    "Calls of non-idempotent tools about to run (compacted; never run twice)",
    {
      cleanupPolicy: "compact,delete",
      retentionMs: stateRetentionMs,
      retryDelaysMs: [],
      deadLetter: false,
    },
  ),
  pipelineTopic(
    "baton.tool-outcomes",
    "baton.ToolResult",
    "The outcome of each idempotency key (compacted: a call never runs twice)",
    {
      cleanupPolicy: "compact,delete",
      retentionMs: stateRetentionMs,
      retryDelaysMs: [],
      deadLetter: false,
    },
  ),
  pipelineTopic(
    "baton.tool-results",
    "baton.ToolResult",
    "Outcome of each step, from executor or policy (planner reads)",
  ),
  pipelineTopic("baton.runs", "baton.RunState", "Planner state of every run (compacted; planners restore from it)", {
    cleanupPolicy: "compact,delete",
    retentionMs: stateRetentionMs,
    retryDelaysMs: [],
    deadLetter: false,
  }),
  pipelineTopic("baton.run-deadlines", "baton.RunDeadline", "Runs whose deadline passed (planner reads)", {
    retentionMs: 1 * day,
  }),
  pipelineTopic("baton.completed-runs", "baton.CompletedRun", "Finished or refused runs (summarizer reads)"),
  pipelineTopic("baton.drafts", "baton.Draft", "Composed answers before policy (policy reads)"),
  pipelineTopic("baton.responses", "baton.Response", "One response per request, the way out", {
    retryDelaysMs: [],
    deadLetter: false,
  }),
  pipelineTopic(
    "baton.events",
    "baton.Event",
    "Each request's progress (planned, allowed, started, finished, partial text, response): SSE and --follow read it",
    { retryDelaysMs: [], deadLetter: false },
  ),
  pipelineTopic("baton.policy-decisions", "baton.PolicyDecision", "Every policy decision: the audit trail", {
    retentionMs: auditRetentionMs,
    retryDelaysMs: [],
    deadLetter: false,
  }),
  pipelineTopic(
    "baton.tool-catalogs",
    "baton.ToolCatalog",
    "Tools each MCP server offers; key = server name (compacted)",
    {
      cleanupPolicy: "compact",
      retentionMs: -1,
      retryDelaysMs: [],
      deadLetter: false,
      partitions: 1,
    },
  ),
];

/** The hops `baton replay` writes again, each as `baton.replay-<name>` (docs/decisions/010-replay.md). */
export const replayedTopics = [
  "baton.tool-calls",
  "baton.approval-requests",
  "baton.approvals",
  "baton.allowed-calls",
  "baton.tool-results",
  "baton.tool-outcomes",
  "baton.runs",
  "baton.completed-runs",
  "baton.drafts",
  "baton.responses",
  "baton.policy-decisions",
] as const;

/** How long the replay namespace keeps what a replay wrote: enough to look at it, not an archive. */
const replayNamespaceRetentionMs = 7 * day;

/** The replay namespace's name for a pipeline topic: `baton.responses` is replayed onto `baton.replay-responses`. */
export function replayTopicName(topic: string): string {
  return topic.replace(/^baton\./, "baton.replay-");
}

/** Whether a topic is in the replay namespace, which no live stage reads. */
export function isReplayTopic(topic: string): boolean {
  return topic.startsWith("baton.replay-");
}

/**
 * The replay namespace: one topic per replayed hop, with its live topic's value record, written only by
 * `baton replay` (header `baton-replay`) and consumed by no stage, so no live group ever sees a replayed record.
 */
export const replayTopics: readonly TopicDeclaration[] = replayedTopics.map((topic) => {
  const live = liveTopics.find((declaration) => declaration.name === topic);
  if (live === undefined) throw new Error(`replayed topic ${topic} is not declared`);
  return pipelineTopic(
    replayTopicName(topic),
    live.valueRecord,
    `Replayed ${topic} (baton replay writes, nobody consumes)`,
    {
      retentionMs: replayNamespaceRetentionMs,
      retryDelaysMs: [],
      deadLetter: false,
    },
  );
});

/** Every topic Baton declares: the live pipeline's, then the replay namespace's. */
export const topics: readonly TopicDeclaration[] = [...liveTopics, ...replayTopics];

/** A concrete topic to create on the cluster, derived from a declaration. */
export interface TopicSpec {
  name: string;
  partitions: number;
  config: Record<string, string>;
  /** Avro record of values, or null for dead-letter topics, which keep the original raw bytes. */
  valueRecord: RecordName | null;
  role: "main" | "retry" | "dead-letter";
}

/** Name of the retry topic for a delay: `baton.requests.retry.10s`, `….retry.500ms`, `….retry.2m`. */
export function retryTopicName(topic: string, delayMs: number): string {
  const label =
    delayMs % 60_000 === 0 ? `${delayMs / 60_000}m` : delayMs % 1000 === 0 ? `${delayMs / 1000}s` : `${delayMs}ms`;
  return `${topic}.retry.${label}`;
}

/** Name of a topic's dead-letter topic. */
export function deadLetterTopicName(topic: string): string {
  return `${topic}.dlq`;
}

/** Expands declarations into every concrete topic: main, retry and dead-letter. */
export function expandTopics(declarations: readonly TopicDeclaration[]): TopicSpec[] {
  const specs: TopicSpec[] = [];
  for (const declaration of declarations) {
    const config = {
      "cleanup.policy": declaration.cleanupPolicy,
      "retention.ms": String(declaration.retentionMs),
    };
    specs.push({
      name: declaration.name,
      partitions: declaration.partitions,
      config,
      valueRecord: declaration.valueRecord,
      role: "main",
    });
    for (const delayMs of declaration.retryDelaysMs) {
      specs.push({
        name: retryTopicName(declaration.name, delayMs),
        partitions: declaration.partitions,
        config: { "cleanup.policy": "delete", "retention.ms": String(retryRetentionMs) },
        valueRecord: declaration.valueRecord,
        role: "retry",
      });
    }
    if (declaration.deadLetter) {
      specs.push({
        name: deadLetterTopicName(declaration.name),
        partitions: declaration.partitions,
        config: { "cleanup.policy": "delete", "retention.ms": String(deadLetterRetentionMs) },
        valueRecord: null,
        role: "dead-letter",
      });
    }
  }
  return specs;
}

/** The topics each stage consumes (besides their retry topics), in consumer group `baton-<stage>`. */
export const stageInputs = {
  planner: ["baton.requests", "baton.tool-results", "baton.run-deadlines"],
  policy: ["baton.tool-calls", "baton.approvals", "baton.drafts"],
  executor: ["baton.allowed-calls"],
  summarizer: ["baton.completed-runs"],
} as const satisfies Record<string, readonly string[]>;

/** The topics a stage's consumer group reads: its inputs and their retry topics. */
export function stageInputTopics(stage: keyof typeof stageInputs): string[] {
  return stageInputs[stage].flatMap((topic) => [
    topic,
    ...retryLadder(topic).map((delayMs) => retryTopicName(topic, delayMs)),
  ]);
}

/** The retry ladder declared for a topic (empty for topics that are not a stage's input or not declared). */
export function retryLadder(topic: string): readonly number[] {
  return topics.find((declaration) => declaration.name === topic)?.retryDelaysMs ?? [];
}

/**
 * Whether a topic is co-partitioned with the requests (a per-request topic, its retry topics and dead letter): a
 * stage writes a request's messages to it on the partition number the request's input came from, whatever the
 * key hashes to, so they reach the instance that owns the request (its run state, its idempotency records) even
 * when the submitter's client hashes keys differently.
 */
export function isCoPartitioned(topic: string): boolean {
  return coPartitionedNames.has(topic);
}

const coPartitionedNames = new Set(
  expandTopics(topics)
    .filter((spec) => spec.partitions === requestPartitions)
    .map((spec) => spec.name),
);

/**
 * What each principal of a secured cluster does with the topics above: the one declaration Baton's ACLs are made
 * from (shared/security/acls.ts, `baton acls print`, README "Security"). A stage gets its consumed topics with their
 * retry topics and dead letter, its state tables, the topics it writes, its consumer group `baton-<stage>` and its
 * transactional ids `baton-<stage>-p<n>`. Change it with the stage: a stage reading a topic not listed here is
 * refused at start on a secured cluster.
 */
export interface PrincipalAccess {
  /** The SASL user (principal `User:<name>`). */
  principal: string;
  /** Who runs as it, for people. */
  description: string;
  /** Input topics the stage consumes in its group (their retry topics and dead letter come with them). */
  consumes: readonly string[];
  /** Topics the stage reads into in-memory tables, each in throwaway groups `baton-table-<topic>-<uuid>`. */
  tables: readonly string[];
  /** Topics it produces to (besides the retry topics and dead letters of what it consumes). */
  writes: readonly string[];
  /** Topics it reads from the start with throwaway groups (the CLI's readers and watchers), and their prefixes. */
  reads: readonly string[];
  /** Group prefixes of `reads`: `baton-reader-` (topic-reader.ts) and `baton-watcher-` (topic-watcher.ts). */
  readGroupPrefixes: readonly string[];
  /** Whether it commits in Kafka transactions (transactional ids `<principal>-p<n>`, which is `baton-<stage>-p<n>`). */
  transactional: boolean;
}

function stageAccess(
  stage: string,
  access: Pick<PrincipalAccess, "consumes" | "writes"> & Partial<Pick<PrincipalAccess, "tables">>,
): PrincipalAccess {
  return {
    principal: `baton-${stage}`,
    description: `the ${stage} stage (every instance)`,
    tables: [],
    reads: [],
    readGroupPrefixes: [],
    transactional: true,
    ...access,
  };
}

/** Every principal but the admin (a super user), with what it may do; stages write what their `*Topics` name. */
export const principalAccess: readonly PrincipalAccess[] = [
  stageAccess("planner", {
    consumes: stageInputs.planner,
    tables: ["baton.runs", "baton.tool-catalogs"],
    // baton.policy-decisions: the planner audits requests refused for their writer, and its tool output screening.
    writes: [
      "baton.tool-calls",
      "baton.runs",
      "baton.completed-runs",
      "baton.run-deadlines",
      "baton.policy-decisions",
      "baton.events",
    ],
  }),
  stageAccess("policy", {
    consumes: stageInputs.policy,
    // The calls waiting for a person, which policy itself put there: the only calls a decision can run.
    tables: ["baton.approval-requests"],
    writes: [
      "baton.allowed-calls",
      "baton.tool-results",
      "baton.approval-requests",
      "baton.policy-decisions",
      "baton.responses",
      "baton.events",
    ],
  }),
  stageAccess("executor", {
    consumes: stageInputs.executor,
    tables: ["baton.tool-outcomes", "baton.tool-intents"],
    writes: ["baton.tool-results", "baton.tool-outcomes", "baton.tool-intents", "baton.tool-catalogs", "baton.events"],
  }),
  // baton.policy-decisions: the summarizer audits its screening of tool output before it reaches an LLM.
  // baton.events: partial text of answers an LLM writes, for tenants whose policy streams it.
  stageAccess("summarizer", {
    consumes: stageInputs.summarizer,
    writes: ["baton.drafts", "baton.policy-decisions", "baton.events"],
  }),
  {
    principal: "baton-submitter",
    description: "whoever submits requests (`baton submit --wait|--follow`, an application, the gateway)",
    consumes: [],
    // The gateway runs as a submitter: it finds a request and follows its progress for GET and SSE; its MCP server
    // offers the catalogue's tools, answers get_request from baton.runs and list_approvals from the waiting calls;
    // its topic triggers read in group baton-triggers (grant READ on each trigger topic yourself).
    tables: ["baton.tool-catalogs"],
    writes: ["baton.requests"],
    reads: ["baton.responses", "baton.events", "baton.requests", "baton.runs", "baton.approval-requests"],
    readGroupPrefixes: ["baton-watcher-", "baton-reader-", "baton-triggers"],
    transactional: false,
  },
  {
    principal: "baton-approver",
    description: "people who answer approval requests (`baton approvals`, `baton approve|reject`)",
    consumes: [],
    tables: [],
    writes: ["baton.approvals"],
    reads: ["baton.approval-requests"],
    readGroupPrefixes: ["baton-reader-"],
    transactional: false,
  },
];

/** The principal that creates topics and ACLs: a super user of the secured cluster, like the brokers themselves. */
export const adminPrincipal = "baton-admin";
