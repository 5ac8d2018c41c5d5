import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { z } from "zod";

/** A support article: front matter plus the paragraphs of its body. */
export interface Article {
  id: string;
  title: string;
  /** The article answers but cannot resolve the request alone: a person has to act (front matter `escalate: true`). */
  escalate: boolean;
  /** Extra terms that count as much as the title. */
  keywords: string[];
  paragraphs: string[];
}

const frontMatterSchema = z.object({
  id: z
    .string()
    .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, "expected kebab-case")
    .optional(),
  title: z.string().min(1),
  escalate: z
    .enum(["true", "false"])
    .default("false")
    .transform((value) => value === "true"),
  keywords: z
    .string()
    .default("")
    .transform((value) =>
      value
        .split(",")
        .map((keyword) => keyword.trim())
        .filter((keyword) => keyword !== ""),
    ),
});

/**
 * Parses a Markdown article: a front matter of `key: value` lines between two `---` lines (`title` required;
 * `id`, `escalate`, `keywords` optional), then a body whose blank-line separated blocks, headings aside, are paragraphs.
 */
export function parseArticle(fileName: string, text: string): Article {
  const match = /^---\r?\n([\s\S]*?)\r?\n---\r?\n([\s\S]*)$/.exec(text);
  if (match === null) throw new Error(`${fileName}: expected front matter between two "---" lines`);
  const [, header = "", body = ""] = match;
  const fields: Record<string, string> = {};
  for (const line of header.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    const separator = line.indexOf(":");
    if (separator < 1) throw new Error(`${fileName}: front matter line "${line}" is not "key: value"`);
    fields[line.slice(0, separator).trim()] = line.slice(separator + 1).trim();
  }
  const parsed = frontMatterSchema.safeParse(fields);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`${fileName}: invalid front matter: ${problems.join("; ")}`);
  }
  const paragraphs = body
    .split(/\r?\n\s*\r?\n/)
    .map((block) =>
      block
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line !== "" && !line.startsWith("#"))
        .join(" "),
    )
    .filter((paragraph) => paragraph !== "");
  if (paragraphs.length === 0) throw new Error(`${fileName}: the article has no paragraph`);
  return {
    id: parsed.data.id ?? basename(fileName, ".md"),
    title: parsed.data.title,
    escalate: parsed.data.escalate,
    keywords: parsed.data.keywords,
    paragraphs,
  };
}

/** Reads every `*.md` article in a directory, in file name order. */
export async function loadArticles(directory: string): Promise<Article[]> {
  const fileNames = (await readdir(directory)).filter((name) => name.endsWith(".md")).sort();
  const articles = await Promise.all(
    fileNames.map(async (name) => parseArticle(name, await readFile(join(directory, name), "utf8"))),
  );
  if (articles.length === 0) throw new Error(`${directory}: no *.md article found`);
  const ids = articles.map((article) => article.id);
  const repeated = ids.find((id, index) => ids.indexOf(id) !== index);
  if (repeated !== undefined) throw new Error(`${directory}: two articles share the id "${repeated}"`);
  return articles;
}
