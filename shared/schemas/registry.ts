import { SchemaRegistry } from "@kafkajs/confluent-schema-registry";
import { BatonError } from "../errors.ts";
import type { AvroFile } from "./avro-files.ts";

/** The registry subject of a topic's values (topic-name strategy). */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

/** What applying one schema did. */
export interface SchemaApplyResult {
  subject: string;
  record: string;
  id: number;
  /** True when the registry already held this exact schema under the subject. */
  unchanged: boolean;
}

/** A client of a Confluent-compatible schema registry (Confluent, Apicurio ccompat, Karapace). */
export class RegistryClient {
  readonly url: string;
  readonly registry: SchemaRegistry;
  private readonly authorization: string | undefined;

  /** `authorization` is the Authorization header a secured registry wants (`Basic …` or `Bearer …`). */
  constructor(url: string, authorization?: string) {
    this.url = url.replace(/\/$/, "");
    this.authorization = authorization;
    const withAuthorization = () => ({
      request: (request: { enhance(changes: { headers: Record<string, string> }): unknown }) =>
        request.enhance({ headers: { authorization: authorization ?? "" } }),
    });
    this.registry = new SchemaRegistry({
      host: this.url,
      retry: { retries: 2 },
      ...(authorization === undefined ? {} : { middlewares: [withAuthorization as never] }),
    });
  }

  /**
   * Fails with one line when the registry refuses this client's credentials (401/403), instead of a schema lookup
   * failing later for a reason that reads like a missing schema.
   */
  async checkAccess(): Promise<void> {
    let status: number;
    try {
      ({ status } = await this.request("GET", "/subjects"));
    } catch (error) {
      // An unreachable registry is not a credential problem; the first schema lookup reports it as before.
      if (error instanceof BatonError && error.code === "REGISTRY_UNAVAILABLE") return;
      throw error;
    }
    if (status === 401 || status === 403) {
      throw new BatonError(
        "AUTHENTICATION_FAILED",
        `the schema registry at ${this.url} refused ${this.authorization === undefined ? "a client without credentials" : "the credentials"} (${status}): set REGISTRY_USERNAME and REGISTRY_PASSWORD_FILE, or REGISTRY_TOKEN_FILE`,
      );
    }
  }

  private async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    let response: globalThis.Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          "content-type": "application/vnd.schemaregistry.v1+json",
          ...(this.authorization === undefined ? {} : { authorization: this.authorization }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new BatonError(
        "REGISTRY_UNAVAILABLE",
        `schema registry at ${this.url} is unreachable: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const text = await response.text();
    let json: unknown = text;
    try {
      json = text === "" ? null : JSON.parse(text);
    } catch {
      // a plain-text body stays as text
    }
    if (response.status >= 500) {
      throw new BatonError("REGISTRY_UNAVAILABLE", `schema registry answered ${response.status}: ${text}`);
    }
    return { status: response.status, json };
  }

  /** Sets a subject's compatibility rule (BACKWARD for every Baton topic). */
  async setCompatibility(subject: string, level: "BACKWARD" | "NONE" | "FULL" | "FORWARD"): Promise<void> {
    const { status, json } = await this.request("PUT", `/config/${encodeURIComponent(subject)}`, {
      compatibility: level,
    });
    if (status >= 300)
      throw new BatonError("INVALID_INPUT", `could not set ${level} on ${subject}: ${JSON.stringify(json)}`);
  }

  /** The id of this exact schema under the subject, or undefined when it is not registered there. */
  async lookup(subject: string, schemaText: string): Promise<number | undefined> {
    const { status, json } = await this.request("POST", `/subjects/${encodeURIComponent(subject)}`, {
      schema: schemaText,
    });
    if (status === 200 && typeof json === "object" && json !== null && "id" in json) return Number(json.id);
    return undefined;
  }

  /**
   * Registers a record under a subject with BACKWARD compatibility. A schema that breaks compatibility
   * is refused with the registry's reason (SCHEMA_INCOMPATIBLE); an identical one is reported unchanged.
   */
  async apply(subject: string, schema: AvroFile): Promise<SchemaApplyResult> {
    const existing = await this.lookup(subject, schema.text);
    if (existing !== undefined) return { subject, record: schema.fullName, id: existing, unchanged: true };
    await this.setCompatibility(subject, "BACKWARD");
    const { status, json } = await this.request("POST", `/subjects/${encodeURIComponent(subject)}/versions`, {
      schema: schema.text,
    });
    if (status === 409 || status === 422) {
      const reason =
        typeof json === "object" && json !== null && "message" in json ? String(json.message) : JSON.stringify(json);
      throw new BatonError("SCHEMA_INCOMPATIBLE", `${subject}: ${schema.file} is refused by the registry: ${reason}`, {
        details: { subject, status },
      });
    }
    if (status >= 300 || typeof json !== "object" || json === null || !("id" in json)) {
      throw new BatonError(
        "REGISTRY_UNAVAILABLE",
        `registering ${subject} failed (${status}): ${JSON.stringify(json)}`,
      );
    }
    return { subject, record: schema.fullName, id: Number(json.id), unchanged: false };
  }

  /** The id of the latest schema registered under a subject. */
  async latestId(subject: string): Promise<number> {
    try {
      return await this.registry.getLatestSchemaId(subject);
    } catch (error) {
      throw new BatonError(
        "REGISTRY_UNAVAILABLE",
        `no schema for ${subject} (run baton schemas apply): ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  /** Deletes a subject (tests clean up with this; Apicurio needs deletion enabled). */
  async deleteSubject(subject: string): Promise<void> {
    await this.request("DELETE", `/subjects/${encodeURIComponent(subject)}`);
    await this.request("DELETE", `/subjects/${encodeURIComponent(subject)}?permanent=true`);
  }
}
