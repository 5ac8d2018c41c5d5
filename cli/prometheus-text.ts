/** One sample of a Prometheus text exposition: `name{label="value",…} value [timestamp]`. */
export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const namePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseValue(text: string): number {
  switch (text) {
    case "+Inf":
    case "Inf":
      return Number.POSITIVE_INFINITY;
    case "-Inf":
      return Number.NEGATIVE_INFINITY;
    case "NaN":
      return Number.NaN;
    default:
      return text === "" ? Number.NaN : Number(text);
  }
}

/** Reads `{a="1",b="x\"y"}` from the start of `text`; returns the labels and how many characters it used. */
function parseLabels(text: string, lineNumber: number): { labels: Record<string, string>; length: number } {
  const labels: Record<string, string> = {};
  let at = 1;
  const fail = (why: string): never => {
    throw new Error(`prometheus text line ${lineNumber}: ${why}`);
  };
  const skipSpaces = (): void => {
    while (text[at] === " " || text[at] === "\t") at += 1;
  };
  for (;;) {
    skipSpaces();
    if (text[at] === "}") return { labels, length: at + 1 };
    const name = labelNamePattern.exec(text.slice(at))?.[0] ?? fail("expected a label name");
    at += name.length;
    skipSpaces();
    if (text[at] !== "=") fail(`expected = after label ${name}`);
    at += 1;
    skipSpaces();
    if (text[at] !== '"') fail(`expected a quoted value for label ${name}`);
    at += 1;
    let value = "";
    for (;;) {
      const character = text[at] ?? fail(`unterminated value of label ${name}`);
      at += 1;
      if (character === '"') break;
      if (character === "\\") {
        const escaped = text[at] ?? fail(`unterminated value of label ${name}`);
        at += 1;
        value += escaped === "n" ? "\n" : escaped;
      } else value += character;
    }
    labels[name] = value;
    skipSpaces();
    if (text[at] === ",") at += 1;
    else if (text[at] !== "}") fail(`expected , or } after label ${name}`);
  }
}

/** A parsed exposition: its samples, and the metric families it declares with `# TYPE`, even those with no sample. */
export interface PrometheusExposition {
  samples: PrometheusSample[];
  /** Family name to type (`counter`, `gauge`, `histogram`, …). A labelled gauge with no values set has no samples. */
  types: Record<string, string>;
}

/**
 * Parses the Prometheus text exposition format (version 0.0.4, what prom-client serves): samples, and the types
 * `# TYPE` lines declare. Other comments and blank lines are skipped; a malformed line throws naming its line number.
 */
export function parsePrometheusExposition(text: string): PrometheusExposition {
  const samples: PrometheusSample[] = [];
  const types: Record<string, string> = {};
  text.split("\n").forEach((raw, index) => {
    const line = raw.trim();
    const declared = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
    if (declared?.[1] !== undefined && declared[2] !== undefined) types[declared[1]] = declared[2];
    if (line === "" || line.startsWith("#")) return;
    const name = namePattern.exec(line)?.[0];
    if (name === undefined) throw new Error(`prometheus text line ${index + 1}: expected a metric name`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) {
      const parsed = parseLabels(rest, index + 1);
      labels = parsed.labels;
      rest = rest.slice(parsed.length);
    }
    const [value = ""] = rest.trim().split(/\s+/);
    samples.push({ name, labels, value: parseValue(value) });
  });
  return { samples, types };
}

/** The samples of a Prometheus text exposition (see {@link parsePrometheusExposition}). */
export function parsePrometheusText(text: string): PrometheusSample[] {
  return parsePrometheusExposition(text).samples;
}
