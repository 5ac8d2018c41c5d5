import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StackError } from "./stack-errors.ts";

/**
 * The maven-dependency-plugin used for every download, pinned so each Maven version resolves the same. 2.8 (what Maven
 * 3.8 binds by default) copies an artifact without reading its pom's parent; 3.x insists on it, and the parent of
 * apicurio-registry-app 3.0.9 (io.apicurio:apicurio-registry:pom:3.0.9) is missing from Maven Central.
 */
const dependencyPlugin = "org.apache.maven.plugins:maven-dependency-plugin:2.8";

/** Where an artifact comes from on Maven Central and how it lands in the cache. */
export type ArtifactSource =
  /** The runtime dependencies of a pom in deploy/local/, copied flat (a classpath folder). */
  | { kind: "pom-dependencies"; pomFile: string }
  /** One artifact (groupId:artifactId:version:type[:classifier]) copied as a file. */
  | { kind: "file"; coordinates: string }
  /** One tar.gz artifact, unpacked. */
  | { kind: "tar.gz"; coordinates: string };

/** A downloadable part of the stack. */
export interface ArtifactSpec {
  /** Folder under the cache; includes the version so an upgrade downloads afresh. */
  cacheName: string;
  /** What progress lines call it ("Kafka 4.4.0"). */
  label: string;
  /** Maven coordinates for messages. */
  coordinates: string;
  source: ArtifactSource;
}

/** What downloading needs from its caller. */
export interface ArtifactCacheOptions {
  cacheDir: string;
  mavenCommand: string;
  onProgress: (line: string) => void;
}

const markerName = ".baton-complete";

/** The marker text a complete cache folder holds; a pom's content hash is part of it so editing the pom re-resolves. */
export async function artifactMarker(spec: ArtifactSpec): Promise<string> {
  const lines = [spec.coordinates];
  if (spec.source.kind === "pom-dependencies") {
    lines.push(
      createHash("sha256")
        .update(await readFile(spec.source.pomFile))
        .digest("hex"),
    );
  }
  return `${lines.join("\n")}\n`;
}

/** The artifact's cache folder when it is complete, else undefined. */
export async function cachedArtifactDir(spec: ArtifactSpec, cacheDir: string): Promise<string | undefined> {
  const dir = join(cacheDir, spec.cacheName);
  try {
    return (await readFile(join(dir, markerName), "utf8")) === (await artifactMarker(spec)) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** Returns the artifact's cache folder, downloading it with Maven first unless a complete copy is there already. */
export async function ensureArtifact(spec: ArtifactSpec, options: ArtifactCacheOptions): Promise<string> {
  const cached = await cachedArtifactDir(spec, options.cacheDir);
  if (cached !== undefined) return cached;

  const dir = join(options.cacheDir, spec.cacheName);
  const partial = `${dir}.partial`;
  const mavenLog = `${dir}.maven.log`;
  const started = performance.now();
  options.onProgress(`downloading ${spec.label} from Maven Central (${spec.coordinates})…`);
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });

  const downloadDir = spec.source.kind === "tar.gz" ? join(partial, ".download") : partial;
  const goal =
    spec.source.kind === "pom-dependencies"
      ? ["-f", spec.source.pomFile, `${dependencyPlugin}:copy-dependencies`, "-DincludeScope=runtime"]
      : [`${dependencyPlugin}:copy`, `-Dartifact=${spec.source.coordinates}`];
  const heartbeat = setInterval(() => {
    options.onProgress(`  still downloading ${spec.label}… (${Math.round((performance.now() - started) / 1000)}s)`);
  }, 15_000);
  try {
    const exitCode = await runLogged(
      options.mavenCommand,
      ["-B", "-ntp", "-Dstyle.color=never", ...goal, `-DoutputDirectory=${downloadDir}`],
      options.cacheDir,
      mavenLog,
    );
    if (exitCode !== 0) {
      const reason = await firstMavenError(mavenLog);
      throw new StackError(
        "DOWNLOAD_FAILED",
        `could not download ${spec.coordinates} from Maven Central (mvn exited ${exitCode}${reason === undefined ? "" : `: ${reason}`}); check network access to Maven Central, then run baton stack up again (full Maven output: ${mavenLog})`,
      );
    }
    if (spec.source.kind === "tar.gz") {
      const archives = (await readdir(downloadDir)).filter((name) => name.endsWith(".tar.gz"));
      const archive = archives[0];
      if (archive === undefined) {
        throw new StackError("DOWNLOAD_FAILED", `Maven fetched no .tar.gz for ${spec.coordinates} (see ${mavenLog})`);
      }
      const tarLog = `${dir}.tar.log`;
      const tarExit = await runLogged(
        "tar",
        ["-xzf", join(downloadDir, archive), "-C", partial],
        options.cacheDir,
        tarLog,
      );
      if (tarExit !== 0) {
        throw new StackError(
          "DOWNLOAD_FAILED",
          `could not unpack ${archive} (tar exited ${tarExit}; see ${tarLog}); is tar installed?`,
        );
      }
      await rm(downloadDir, { recursive: true, force: true });
    }
    await writeFile(join(partial, markerName), await artifactMarker(spec));
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
  } finally {
    clearInterval(heartbeat);
  }
  const megabytes = (await folderSize(dir)) / (1024 * 1024);
  const seconds = (performance.now() - started) / 1000;
  options.onProgress(`downloaded ${spec.label}: ${megabytes.toFixed(0)} MB in ${seconds.toFixed(1)}s`);
  return dir;
}

function runLogged(command: string, args: readonly string[], cwd: string, logFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const log = createWriteStream(logFile);
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.once("error", (error) => {
      log.end();
      if ("code" in error && error.code === "ENOENT") {
        reject(
          command === "tar"
            ? new StackError("DOWNLOAD_FAILED", "tar was not found on PATH; it unpacks the schema registry download")
            : new StackError(
                "MAVEN_MISSING",
                `${command} (Maven) was not found on PATH; it downloads the stack from Maven Central on first use (Debian: apt-get install maven)`,
              ),
        );
      } else reject(error);
    });
    child.once("close", (code) => log.end(() => resolve(code ?? 1)));
  });
}

async function firstMavenError(logFile: string): Promise<string | undefined> {
  try {
    const text = await readFile(logFile, "utf8");
    const line = text.split("\n").find((candidate) => candidate.startsWith("[ERROR]"));
    return line?.replace(/^\[ERROR\]\s*/, "").slice(0, 400);
  } catch {
    return undefined;
  }
}

async function folderSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}
