/** Renders a Java `.properties` file, escaping what the format treats specially, in the order given. */
export function renderProperties(
  entries: ReadonlyArray<readonly [string, string | number | boolean]>,
  header?: string,
): string {
  const lines: string[] = [];
  if (header !== undefined) {
    for (const line of header.split("\n")) lines.push(`# ${line}`);
  }
  for (const [key, value] of entries) {
    lines.push(`${escapeKey(key)}=${escapeValue(String(value))}`);
  }
  return `${lines.join("\n")}\n`;
}

function escapeKey(key: string): string {
  return escapeValue(key).replace(/[ =:]/g, (character) => `\\${character}`);
}

function escapeValue(value: string): string {
  return value
    .replace(/\\/g, "\\\\")
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")
    .replace(/\t/g, "\\t")
    .replace(/^ /, "\\ ")
    .replace(/^([#!])/, "\\$1");
}
