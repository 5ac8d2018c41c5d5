import type { PiiKind } from "../../shared/policy-file.ts";

/** How many of each kind of personal data an answer held, and the answer with them replaced. */
export interface Redaction {
  text: string;
  found: Partial<Record<PiiKind, number>>;
}

const email = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const digitRun = /\b\d+(?:[ -]\d+)*\b/g;
const phoneCandidate = /(?<![\w-])\+?\(?\d[\d ().-]{7,}\d(?![\w-])/g;

/** Luhn checksum, so that order and ticket numbers are not mistaken for card numbers. */
function passesLuhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let index = digits.length - 1; index >= 0; index -= 1) {
    let digit = Number(digits[index]);
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Within a run of digit groups ("4111 1111 1111 1111 12/28"), replaces each longest span of 13-19 digits that
 * passes Luhn, so digits around a card number (an expiry, a code) do not hide it.
 */
function redactCardsInRun(run: string, onCard: () => void): string {
  const parts = run.split(/([ -])/);
  const out: string[] = [];
  let index = 0;
  while (index < parts.length) {
    let end = -1;
    let digits = "";
    for (let last = index; index % 2 === 0 && last < parts.length; last += 2) {
      digits += parts[last] ?? "";
      if (digits.length > 19) break;
      if (digits.length >= 13 && passesLuhn(digits)) end = last;
    }
    if (end < 0) {
      out.push(parts[index] ?? "");
      index += 1;
    } else {
      onCard();
      out.push("[redacted card]");
      index = end + 1;
    }
  }
  return out.join("");
}

/** Replaces emails, card numbers (13-19 digits passing Luhn) and phone numbers (9-15 digits) with markers. */
export function redactPii(text: string, kinds: readonly PiiKind[]): Redaction {
  const found: Partial<Record<PiiKind, number>> = {};
  const count = (kind: PiiKind): void => {
    found[kind] = (found[kind] ?? 0) + 1;
  };
  let result = text;
  if (kinds.includes("email")) {
    result = result.replace(email, () => {
      count("email");
      return "[redacted email]";
    });
  }
  if (kinds.includes("card")) {
    result = result.replace(digitRun, (run) => redactCardsInRun(run, () => count("card")));
  }
  if (kinds.includes("phone")) {
    result = result.replace(phoneCandidate, (match) => {
      const digits = match.replace(/\D/g, "");
      if (digits.length < 9 || digits.length > 15) return match;
      count("phone");
      return "[redacted phone]";
    });
  }
  return { text: result, found };
}
