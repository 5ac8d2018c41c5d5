import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { z } from "zod";

/** An append-only file of JSON lines, one record a line, each checked against a schema when read. */
export class JsonlFile<Schema extends z.ZodType> {
  readonly path: string;
  readonly #schema: Schema;

  constructor(path: string, schema: Schema) {
    this.path = path;
    this.#schema = schema;
  }

  /** Every record in file order; an absent file holds none. A line that fails the schema throws, naming its line. */
  async readAll(): Promise<Array<z.output<Schema>>> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const records: Array<z.output<Schema>> = [];
    for (const [index, line] of text.split("\n").entries()) {
      if (line.trim() === "") continue;
      const parsed = this.#schema.safeParse(JSON.parse(line));
      if (!parsed.success) throw new Error(`${this.path}:${index + 1}: ${parsed.error.message}`);
      records.push(parsed.data);
    }
    return records;
  }

  /** Appends one record as a single line, creating the file and its directory if needed. */
  async append(record: z.output<Schema>): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await appendFile(this.path, `${JSON.stringify(record)}\n`, "utf8");
  }
}
