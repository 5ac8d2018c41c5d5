import type { Policy } from "../../shared/policy-file.ts";
import { redactPii } from "../policy/redaction.ts";

/**
 * Where text may be cut without splitting anything the redaction rules look for: after whitespace that a letter
 * follows. An email holds no whitespace, and a card or phone number is digits, spaces and `+().-` only, so no match
 * spans such a cut, and redacting the pieces on either side redacts what redacting the whole would.
 */
const safeCut = /\s(?=[A-Za-z])/g;

/**
 * Redacts an answer that arrives piece by piece (an LLM's tokens) with the answer rules of the policy: holds text back
 * until a safe cut, so a piece never shows part of an email, card or phone number that a later piece would complete.
 * Once a block rule matches what has been written, it gives out nothing more (the final answer is then withheld).
 */
export class PartialTextRedactor {
  private readonly answers: Policy["answers"];
  private pending = "";
  private written = "";
  private blocked = false;

  constructor(answers: Policy["answers"]) {
    this.answers = answers;
  }

  /** Takes the next piece; returns the redacted text that may be shown now (often empty). */
  push(piece: string): string {
    this.pending += piece;
    let cut = -1;
    for (const match of this.pending.matchAll(safeCut)) cut = match.index + 1;
    if (cut <= 0) return "";
    const ready = this.pending.slice(0, cut);
    this.pending = this.pending.slice(cut);
    return this.release(ready);
  }

  /** The rest, once the answer is complete. */
  flush(): string {
    const rest = this.pending;
    this.pending = "";
    return this.release(rest);
  }

  private release(text: string): string {
    if (this.blocked || text === "") return "";
    this.written += text;
    if (this.answers.block.some((rule) => new RegExp(rule.pattern, "iu").test(this.written))) {
      this.blocked = true;
      return "";
    }
    return redactPii(text, this.answers.redact).text;
  }
}

/**
 * Publishes an answer's redacted pieces as PARTIAL_TEXT events, numbered from 0, in order: pieces that arrive while
 * one is being sent go out together in the next, so a fast model never queues a send per token.
 */
export class PartialTextPublisher {
  private readonly redactor: PartialTextRedactor;
  private readonly send: (text: string, sequence: number) => Promise<void>;
  private buffer = "";
  private sequence = 0;
  private inFlight: Promise<void> | undefined;

  constructor(answers: Policy["answers"], send: (text: string, sequence: number) => Promise<void>) {
    this.redactor = new PartialTextRedactor(answers);
    this.send = send;
  }

  /** The model's next piece of text. */
  push(piece: string): void {
    this.enqueue(this.redactor.push(piece));
  }

  /** Sends what is left and waits until every piece is sent. */
  async finish(): Promise<void> {
    this.enqueue(this.redactor.flush());
    while (this.inFlight !== undefined) await this.inFlight;
  }

  private enqueue(text: string): void {
    this.buffer += text;
    if (this.inFlight === undefined && this.buffer !== "") this.pump();
  }

  private pump(): void {
    const text = this.buffer;
    this.buffer = "";
    const sequence = this.sequence;
    this.sequence += 1;
    this.inFlight = this.send(text, sequence).finally(() => {
      this.inFlight = undefined;
      if (this.buffer !== "") this.pump();
    });
  }
}
