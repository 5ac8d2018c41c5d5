/**
 * MCP tool names allow no `/`, so a catalogue tool `<server>/<tool>` is offered as `<server>.<tool>`. Server names
 * hold no `.` (config/mcp-servers.yaml), so the first `.` splits the name back, whatever dots the tool's own name has.
 */
export function mcpToolName(batonTool: string): string {
  const slash = batonTool.indexOf("/");
  return slash < 0 ? batonTool : `${batonTool.slice(0, slash)}.${batonTool.slice(slash + 1)}`;
}

/** The catalogue name `<server>/<tool>` of a gateway tool name `<server>.<tool>`, or undefined for another name. */
export function batonToolName(mcpTool: string): string | undefined {
  const dot = mcpTool.indexOf(".");
  if (dot <= 0 || dot === mcpTool.length - 1) return undefined;
  return `${mcpTool.slice(0, dot)}/${mcpTool.slice(dot + 1)}`;
}
