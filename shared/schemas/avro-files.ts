import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import avro from "avsc";
import { BatonError } from "../errors.ts";

/** One record schema read from schemas/*.avsc. */
export interface AvroFile {
  /** Full name, `baton.Request`. */
  fullName: string;
  file: string;
  /** The schema text as registered (canonical JSON of the file). */
  text: string;
  type: avro.Type;
}

/** The folder of the shipped .avsc files. */
export const schemasDirectory = new URL("../../schemas/", import.meta.url).pathname;

/** Reads and parses every .avsc in a folder; an invalid file fails naming the file and the reason. */
export async function readAvroFiles(directory: string = schemasDirectory): Promise<Map<string, AvroFile>> {
  const files = (await readdir(directory)).filter((name) => name.endsWith(".avsc")).sort();
  const result = new Map<string, AvroFile>();
  for (const file of files) {
    const path = join(directory, file);
    try {
      const json: unknown = JSON.parse(await readFile(path, "utf8"));
      const type = avro.Type.forSchema(json as avro.Schema);
      const fullName = type.name;
      if (fullName === undefined) throw new Error("top-level schema must be a named record");
      result.set(fullName, { fullName, file: path, text: JSON.stringify(json), type });
    } catch (error) {
      throw new BatonError("CONFIG_INVALID", `${path}: ${(error as Error).message}`, { cause: error });
    }
  }
  return result;
}
