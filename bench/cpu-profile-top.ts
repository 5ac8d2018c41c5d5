// `node bench/cpu-profile-top.ts <file.cpuprofile>… [--top 15]`: where a process spent its CPU, from the profiles
// `node --cpu-prof` writes (bench/open-loop-bench.ts --profile-dir): self time by package or source folder, and the
// functions with the most self time. Idle time is left out of the shares.
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  options: { top: { type: "string", default: "15" } },
  allowPositionals: true,
});
if (positionals.length === 0) {
  console.error("usage: node bench/cpu-profile-top.ts <file.cpuprofile>… [--top 15]");
  process.exit(2);
}

/** The package (node_modules/<name>), the repository folder (shared/kafka, services/planner…) or the runtime part. */
function placeOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "node native bindings";
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (inPackage?.[1] !== undefined) return inPackage[1];
  if (url.startsWith("node:")) return "node internals";
  const inRepository = /\/(shared|services|cli|tools)\/([^/]+)\//.exec(url);
  if (inRepository !== null) return `${inRepository[1]}/${inRepository[2]}`;
  return url;
}

const top = Number(values.top);
for (const file of positionals) {
  const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, index) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  let busy = 0;
  for (const [id, micros] of self) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined || frame.functionName === "(idle)") continue;
    busy += micros;
    const where =
      frame.url === "" ? "" : ` ${frame.url.replace(/^.*\/(node_modules|wt\/[^/]+)\//, "")}:${frame.lineNumber + 1}`;
    const name = `${frame.functionName || "(anonymous)"}${where}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    const place = placeOf(frame.url, frame.functionName);
    byPlace.set(place, (byPlace.get(place) ?? 0) + micros);
  }
  const share = (micros: number) => `${((micros / busy) * 100).toFixed(1).padStart(5)} %`;
  console.log(`${basename(file)}: ${(busy / 1000).toFixed(0)} ms of CPU sampled (idle left out)`);
  console.log("  by place:");
  for (const [place, micros] of [...byPlace].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`    ${share(micros)}  ${place}`);
  console.log("  by function (self time):");
  for (const [name, micros] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`    ${share(micros)}  ${name}`);
}
