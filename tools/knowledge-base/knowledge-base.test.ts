import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callTool, connectStdio, resultText, serverPath, type Connection } from "../common/testing.ts";

interface SearchOutput {
  found: boolean;
  needsEscalation: boolean;
  answer: string | null;
  articles: Array<{ id: string; title: string; score: number; excerpt: string }>;
}

let connection: Connection;

beforeAll(async () => {
  connection = await connectStdio(serverPath("knowledge-base"), {});
});

afterAll(async () => {
  await connection.close();
});

async function search(args: Record<string, unknown>): Promise<SearchOutput> {
  const result = await callTool(connection.client, "search", args);
  expect(result.isError).toBeFalsy();
  return result.structuredContent as unknown as SearchOutput;
}

describe("knowledge-base server", () => {
  it("lists search with a JSON Schema input requiring query and an output schema", async () => {
    const { tools } = await connection.client.listTools();
    const tool = tools.find((candidate) => candidate.name === "search");
    expect(tool?.inputSchema).toMatchObject({
      type: "object",
      properties: { query: { type: "string" }, limit: { type: "integer", minimum: 1, maximum: 10, default: 3 } },
      required: ["query"],
    });
    expect(tool?.outputSchema?.required).toEqual(["found", "needsEscalation", "answer", "articles"]);
  });

  it("answers the shipping question from the shipping article without escalation", async () => {
    const outcome = await search({ query: "How long does shipping take?" });
    expect(outcome.found).toBe(true);
    expect(outcome.needsEscalation).toBe(false);
    expect(outcome.articles[0]?.id).toBe("shipping-times");
    expect(outcome.answer).toMatch(/business days/);
  });

  it("finds the damaged-item refunds article for a damaged order and says it needs escalation", async () => {
    const result = await callTool(connection.client, "search", {
      query: "My order #1234 arrived damaged and I want a refund",
    });
    const outcome = result.structuredContent as unknown as SearchOutput;
    expect(outcome).toMatchObject({ found: true, needsEscalation: true });
    expect(outcome.articles[0]?.id).toBe("damaged-item-refunds");
    expect(outcome.answer).toMatch(/ticket/);
    expect(resultText(result)).toMatch(/needs escalation/);
  });

  it("finds nothing for gibberish", async () => {
    const outcome = await search({ query: "asdf qwerty" });
    expect(outcome).toEqual({ found: false, needsEscalation: false, answer: null, articles: [] });
  });

  it("returns at most limit articles, best first", async () => {
    const outcome = await search({ query: "refund for my order shipping", limit: 2 });
    expect(outcome.articles).toHaveLength(2);
    expect(outcome.articles[0]!.score).toBeGreaterThanOrEqual(outcome.articles[1]!.score);
  });

  it("refuses a limit above 10 as a tool error", async () => {
    const result = await callTool(connection.client, "search", { query: "shipping", limit: 11 });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(/limit/);
  });
});
