import { chmod, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cachedArtifactDir, ensureArtifact } from "./artifact-cache.ts";
import type { ArtifactSpec } from "./artifact-cache.ts";
import { StackError } from "./stack-errors.ts";

/** A stand-in for mvn: writes one file into -DoutputDirectory (or a tar.gz of one), counting its calls. */
const fakeMaven = `#!/bin/sh
for argument in "$@"; do
  case "$argument" in -DoutputDirectory=*) out="\${argument#-DoutputDirectory=}";; esac
done
echo call >> "$(dirname "$0")/calls"
[ -n "$FAIL" ] && { echo "[ERROR] Could not find artifact example:thing:1.0 in central"; exit 1; }
mkdir -p "$out"
if [ -n "$ARCHIVE" ]; then
  mkdir -p "$out/src" && echo hello > "$out/src/app.jar" && tar -czf "$out/thing-all.tar.gz" -C "$out/src" app.jar && rm -r "$out/src"
else
  echo jar > "$out/thing-1.0.jar"
fi
`;

async function setup(script = fakeMaven): Promise<{ dir: string; maven: string; progress: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), "baton-cache-"));
  const maven = join(dir, "mvn");
  await writeFile(maven, script);
  await chmod(maven, 0o755);
  return { dir, maven, progress: [] };
}

async function calls(dir: string): Promise<number> {
  try {
    return (await readFile(join(dir, "calls"), "utf8")).trim().split("\n").length;
  } catch {
    return 0;
  }
}

const fileSpec: ArtifactSpec = {
  cacheName: "thing-1.0",
  label: "Thing 1.0",
  coordinates: "example:thing:1.0",
  source: { kind: "file", coordinates: "example:thing:1.0" },
};

describe("ensureArtifact", () => {
  it("downloads once, then serves the complete cache folder without running Maven", async () => {
    const { dir, maven, progress } = await setup();
    const options = {
      cacheDir: join(dir, "cache"),
      mavenCommand: maven,
      onProgress: (line: string) => progress.push(line),
    };
    const first = await ensureArtifact(fileSpec, options);
    expect(await readdir(first)).toContain("thing-1.0.jar");
    expect(progress[0]).toMatch(/^downloading Thing 1.0 from Maven Central/);
    const second = await ensureArtifact(fileSpec, options);
    expect(second).toBe(first);
    expect(await calls(dir)).toBe(1);
    expect(await cachedArtifactDir(fileSpec, options.cacheDir)).toBe(first);
  });

  it("unpacks a tar.gz artifact and drops the archive", async () => {
    const { dir, maven } = await setup(fakeMaven.replace("#!/bin/sh\n", "#!/bin/sh\nARCHIVE=1\n"));
    const spec: ArtifactSpec = {
      ...fileSpec,
      cacheName: "thing-all-1.0",
      source: { kind: "tar.gz", coordinates: "example:thing:1.0:tar.gz:all" },
    };
    const folder = await ensureArtifact(spec, {
      cacheDir: join(dir, "cache"),
      mavenCommand: maven,
      onProgress: () => {},
    });
    expect((await readdir(folder)).filter((name) => !name.startsWith("."))).toEqual(["app.jar"]);
  });

  it("names the artifact and Maven's reason when the download fails, and caches nothing", async () => {
    const { dir, maven } = await setup(fakeMaven.replace("#!/bin/sh\n", "#!/bin/sh\nFAIL=1\n"));
    const cacheDir = join(dir, "cache");
    const error: unknown = await ensureArtifact(fileSpec, {
      cacheDir,
      mavenCommand: maven,
      onProgress: () => {},
    }).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(StackError);
    expect((error as StackError).code).toBe("DOWNLOAD_FAILED");
    expect((error as StackError).message).toMatch(/example:thing:1\.0.*Could not find artifact.*Maven Central/);
    expect(await cachedArtifactDir(fileSpec, cacheDir)).toBeUndefined();
  });

  it("says Maven is missing when it cannot be run", async () => {
    const dir = await mkdtemp(join(tmpdir(), "baton-cache-"));
    const failure = ensureArtifact(fileSpec, { cacheDir: dir, mavenCommand: "/nonexistent/mvn", onProgress: () => {} });
    await expect(failure).rejects.toMatchObject({ code: "MAVEN_MISSING" });
  });
});
