import { readFile, rename, writeFile } from "node:fs/promises";
import { z } from "zod";

const sequenceSchema = z.object({ last: z.number().int().nonnegative() });

/**
 * A sequence of numbers whose last value is kept in a small JSON file, so taking the next one costs the same however
 * many have been taken. Call {@link SequenceFile.next} only under the lock that guards the records it numbers.
 */
export class SequenceFile {
  readonly path: string;
  readonly #highestInData: () => Promise<number>;

  /** `highestInData` reads the highest number already used, once, when the file does not exist yet. */
  constructor(path: string, highestInData: () => Promise<number>) {
    this.path = path;
    this.#highestInData = highestInData;
  }

  /**
   * The next number, written to the file before it is returned: a crash before its record is written leaves a gap,
   * never a number given twice.
   */
  async next(): Promise<number> {
    const next = (await this.#last()) + 1;
    const temporary = `${this.path}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify({ last: next })}\n`, "utf8");
    await rename(temporary, this.path);
    return next;
  }

  async #last(): Promise<number> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return this.#highestInData();
      throw error;
    }
    return sequenceSchema.parse(JSON.parse(text)).last;
  }
}
