import type { PiiKind } from "../../shared/policy-file.ts";

/** How many of each kind of personal data an answer held, and the answer with them replaced. */
export interface Redaction {
  text: string;
  found: Partial<Record<PiiKind, number>>;
}

const email = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const cardCandidate = /\b(?:\d[ -]?){12,18}\d\b/g;
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
    result = result.replace(cardCandidate, (match) => {
      const digits = match.replace(/\D/g, "");
      if (digits.length < 13 || digits.length > 19 || !passesLuhn(digits)) return match;
      count("card");
      return "[redacted card]";
    });
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
