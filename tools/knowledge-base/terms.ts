const stopWords = new Set(
  (
    "a about above after again all also am an and any are as at be because been before being below between both but by " +
    "can could did do does doing done down during each few for from further get got had has have having he her here " +
    "hers him his how i if in into is it its just me more most my myself no nor not now of off on once only or other " +
    "our ours out over own please same she should so some such than thank thanks that the their theirs them then " +
    "there these they this those through to too under until up very want was we were what when where which while who " +
    "whom why will with would you your yours hi hello"
  ).split(" "),
);

/** Strips a few English endings so "shipping", "shipped" and "ships" meet at "ship"; crude, but the same on both sides. */
export function stem(word: string): string {
  for (const suffix of ["ing", "ed", "es", "s", "e"]) {
    if (word.length - suffix.length >= 3 && word.endsWith(suffix)) {
      const base = word.slice(0, -suffix.length);
      const last = base.at(-1);
      const doubled =
        (suffix === "ing" || suffix === "ed") &&
        last !== undefined &&
        last === base.at(-2) &&
        !"aeiouls".includes(last);
      return doubled ? base.slice(0, -1) : base;
    }
  }
  return word;
}

/** The search terms of a text: lowercased words and numbers, stop words dropped, each stemmed. */
export function terms(text: string): string[] {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return words.filter((word) => !stopWords.has(word)).map(stem);
}
