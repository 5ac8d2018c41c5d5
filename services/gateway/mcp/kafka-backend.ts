import { context, SpanKind, trace } from "@opentelemetry/api";
import { checkCredentials, createBackbone, type Backbone } from "../../../shared/backbone.ts";
import { EventFeed } from "../../../shared/kafka/event-feed.ts";
import { kafkaAccessError } from "../../../shared/kafka/client.ts";
import { keyPartition } from "../../../shared/kafka/key-partition.ts";
import { KeyedTable } from "../../../shared/kafka/keyed-table.ts";
import { BatonProducer } from "../../../shared/kafka/producer.ts";
import { readToEnd } from "../../../shared/kafka/topic-reader.ts";
import { TopicWatcher } from "../../../shared/kafka/topic-watcher.ts";
import { loadPolicy, type Policy } from "../../../shared/policy-file.ts";
import type {
  ApprovalRequest,
  Event,
  Request,
  Response,
  RunState,
  ToolCatalog,
  ToolDescription,
} from "../../../shared/schemas/records.ts";
import { loadSigner, signRecord, type Signer } from "../../../shared/security/record-signature.ts";
import { extractTraceContext, withTenant } from "../../../shared/telemetry/propagation.ts";
import type { Logger } from "../../../shared/telemetry/logger.ts";
import { requestPartitions } from "../../../shared/topics.ts";
import { loadWorkflows, type Workflow } from "../../planner/workflow-file.ts";
import type { McpBackend, RequestRecord, SubmitContext } from "./backend.ts";
import type { McpConfig } from "./config.ts";

/**
 * How long a call waits for its response live before it also reads the response's partition: a response written
 * before this process watched (a retry after a gateway restart, or one another gateway served) is found there.
 */
const lookBackAfterMs = 2_000;

/** How many recent responses are kept in memory, so a call retried soon after its run ended is answered at once. */
const recentResponses = 10_000;

/** The gateway's own connections, which the MCP backend can use instead of making its own. */
export interface SharedParts {
  backbone: Backbone;
  producer: BatonProducer;
  /** Started. */
  feed: EventFeed;
}

/**
 * The MCP gateway's view of Baton through its topics: requests out on baton.requests; responses followed live from
 * the end of baton.responses (the latest few thousand kept), and read from a request's partition when they were
 * written before; progress from baton.events; runs from a request's partition of baton.runs; the catalogue from
 * baton.tool-catalogs; approvals from baton.approval-requests.
 */
export class KafkaMcpBackend implements McpBackend {
  readonly policy: Policy;
  readonly workflows: ReadonlyMap<string, Workflow>;
  readonly backbone: Backbone;
  private readonly producer: BatonProducer;
  private readonly signer: Signer | undefined;
  private readonly responses: TopicWatcher<Response | null>;
  private readonly feed: EventFeed;
  private readonly catalogues: KeyedTable<ToolCatalog>;
  private readonly listeners: Set<() => void>;
  private readonly recent = new Map<string, Response>();
  private readonly waiting = new Map<string, Set<(response: Response) => void>>();
  /** Whether the backbone, producer and event feed are this backend's own (false: the gateway's, left open). */
  private readonly ownsParts: boolean;

  private constructor(parts: {
    policy: Policy;
    workflows: ReadonlyMap<string, Workflow>;
    backbone: Backbone;
    producer: BatonProducer;
    signer: Signer | undefined;
    responses: TopicWatcher<Response | null>;
    feed: EventFeed;
    catalogues: KeyedTable<ToolCatalog>;
    listeners: Set<() => void>;
    ownsParts: boolean;
  }) {
    this.ownsParts = parts.ownsParts;
    this.policy = parts.policy;
    this.workflows = parts.workflows;
    this.backbone = parts.backbone;
    this.producer = parts.producer;
    this.signer = parts.signer;
    this.responses = parts.responses;
    this.feed = parts.feed;
    this.catalogues = parts.catalogues;
    this.listeners = parts.listeners;
    this.responses.listen((message) => {
      const response = message.value;
      // Trust no topic: a value that is not a response for its key is not one.
      if (message.key === null || response === null || response.requestId !== message.key) return;
      this.recent.delete(response.requestId);
      this.recent.set(response.requestId, response);
      if (this.recent.size > recentResponses) this.recent.delete(this.recent.keys().next().value ?? "");
      for (const resolve of this.waiting.get(response.requestId) ?? []) resolve(response);
      this.waiting.delete(response.requestId);
    });
  }

  /**
   * Loads the workflows and the policy (failing at start on a bad file), connects to Kafka and the registry, and
   * follows responses, progress and the catalogue: resolves when it can serve calls. Inside the gateway, `shared`
   * passes the gateway's own backbone, producer and event feed (started), which {@link close} then leaves open.
   */
  static async start(
    config: McpConfig,
    options: { service: string; logger?: Logger; shared?: SharedParts },
  ): Promise<KafkaMcpBackend> {
    const [workflows, policy, signer] = await Promise.all([
      loadWorkflows(config.WORKFLOWS_DIR),
      loadPolicy(config.POLICY_FILE),
      config.BATON_PRINCIPAL === undefined || config.BATON_SIGNING_KEY_FILE === undefined
        ? Promise.resolve(undefined)
        : loadSigner(config.BATON_PRINCIPAL, config.BATON_SIGNING_KEY_FILE),
    ]);
    const { shared } = options;
    const backbone = shared?.backbone ?? createBackbone(options.service, config, options.logger);
    const { kafka, codec, logger, tracing } = backbone;
    const listeners = new Set<() => void>();
    let producer: BatonProducer;
    try {
      if (shared === undefined) await checkCredentials(backbone);
      producer = shared?.producer ?? (await BatonProducer.connect({ kafka, codec, tracer: tracing.tracer }));
    } catch (error) {
      await tracing.shutdown();
      throw kafkaAccessError(error, config.KAFKA_SASL_USERNAME) ?? error;
    }
    const responses = new TopicWatcher<Response | null>({ kafka, codec, topic: "baton.responses", remember: false });
    const feed = shared?.feed ?? new EventFeed({ kafka, codec });
    let loaded = false;
    const catalogues = new KeyedTable<ToolCatalog>({
      kafka,
      codec,
      logger,
      topic: "baton.tool-catalogs",
      onChange: () => {
        if (loaded) for (const listener of listeners) listener();
      },
    });
    // Listening before the watcher starts, so no response is missed between its start and the first call.
    const backend = new KafkaMcpBackend({
      policy,
      workflows,
      backbone,
      producer,
      signer,
      responses,
      feed,
      catalogues,
      listeners,
      ownsParts: shared === undefined,
    });
    await Promise.all([responses.start(), shared === undefined ? feed.start() : undefined, catalogues.start()]);
    loaded = true;
    return backend;
  }

  tools(): ToolDescription[] {
    return [...this.catalogues.entries()].flatMap(([, catalogue]) => catalogue.tools);
  }

  onToolsChanged(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async submit(request: Request, call: SubmitContext): Promise<void> {
    const { tracer } = this.backbone.tracing;
    // The client's trace continues when its `_meta` carries one (SEP-414); the sampler's ratio applies otherwise.
    const parent = call.traceContext === undefined ? context.active() : extractTraceContext(call.traceContext);
    const span = tracer.startSpan(
      `tools/call ${call.tool}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          "mcp.method.name": "tools/call",
          "gen_ai.tool.name": call.tool,
          "mcp.session.id": call.sessionId,
          "baton.request_id": request.requestId,
          "baton.tenant": request.tenant,
        },
      },
      parent,
    );
    const headers = this.signer === undefined ? {} : signRecord("baton.requests", request, this.signer);
    try {
      await context.with(trace.setSpan(withTenant(request.tenant, parent), span), () =>
        this.producer.send([{ topic: "baton.requests", key: request.requestId, value: request, headers }]),
      );
    } finally {
      span.end();
    }
  }

  knownResponse(requestId: string): Response | undefined {
    return this.recent.get(requestId);
  }

  waitForResponse(
    requestId: string,
    options: { signal: AbortSignal; timeoutMs: number },
  ): Promise<Response | undefined> {
    const known = this.knownResponse(requestId);
    if (known !== undefined || options.signal.aborted) return Promise.resolve(known);
    return new Promise((resolve) => {
      let done = false;
      const finish = (response: Response | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(lookBack);
        clearTimeout(timeout);
        options.signal.removeEventListener("abort", abort);
        const waiters = this.waiting.get(requestId);
        waiters?.delete(arrived);
        if (waiters?.size === 0) this.waiting.delete(requestId);
        resolve(response);
      };
      const arrived = (response: Response): void => finish(response);
      const abort = (): void => finish(undefined);
      options.signal.addEventListener("abort", abort, { once: true });
      const waiters = this.waiting.get(requestId) ?? new Set();
      waiters.add(arrived);
      this.waiting.set(requestId, waiters);
      const timeout = setTimeout(() => finish(undefined), options.timeoutMs);
      const lookBack = setTimeout(() => {
        this.readRecord(requestId, ["baton.responses"])
          .then(({ response }) => {
            if (response !== undefined) finish(response);
          })
          .catch((error: unknown) =>
            this.backbone.logger.warn({ err: error, requestId }, "could not read the response's partition"),
          );
      }, lookBackAfterMs);
    });
  }

  async *events(requestId: string, options: { since: number; signal: AbortSignal }): AsyncGenerator<Event> {
    for await (const followed of this.feed.follow(requestId, options)) yield followed.event;
  }

  async find(requestId: string): Promise<RequestRecord> {
    const read = await this.readRecord(requestId, ["baton.runs", "baton.responses"]);
    return { run: read.run, response: read.response ?? this.knownResponse(requestId) };
  }

  /** A request's latest run and response from its partition of the topics, read to their current ends. */
  private async readRecord(requestId: string, topics: Array<"baton.runs" | "baton.responses">): Promise<RequestRecord> {
    const partition = keyPartition(requestId, requestPartitions);
    const { messages } = await readToEnd({
      kafka: this.backbone.kafka,
      codec: this.backbone.codec,
      topics: topics.map((topic) => ({ topic, partitions: [partition] })),
      keys: (key) => key === requestId,
    });
    const latest = (topic: string): unknown =>
      messages.filter((message) => message.topic === topic && message.value !== null).at(-1)?.value;
    return {
      run: latest("baton.runs") as RunState | undefined,
      response: latest("baton.responses") as Response | undefined,
    };
  }

  async approvals(): Promise<ApprovalRequest[]> {
    const { messages } = await readToEnd({
      kafka: this.backbone.kafka,
      codec: this.backbone.codec,
      topics: ["baton.approval-requests"],
    });
    const latest = new Map<string, ApprovalRequest | null>();
    for (const message of messages) {
      if (message.key !== null)
        latest.set(message.key, message.raw === null ? null : (message.value as ApprovalRequest));
    }
    return [...latest.values()].filter((value): value is ApprovalRequest => value !== null);
  }

  /** Stops following the topics and disconnects. */
  async close(): Promise<void> {
    this.listeners.clear();
    await Promise.allSettled([this.responses.stop(), this.catalogues.stop()]);
    if (!this.ownsParts) return;
    await this.feed.stop().catch(() => undefined);
    await this.producer.disconnect().catch(() => undefined);
    await this.backbone.tracing.shutdown();
  }
}
