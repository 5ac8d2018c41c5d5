import { execFile } from "node:child_process";
import { StackError } from "./stack-errors.ts";

/** The oldest Java the stack runs on: Kafka 4 needs 17. */
export const minimumJavaVersion = 17;

/** The major version in `java -version` output ("17.0.15" gives 17, "1.8.0_292" gives 8); undefined when absent. */
export function parseJavaMajorVersion(output: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?[^"]*"/.exec(output);
  if (match === null) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

/** Runs `java -version`; returns the major version or throws JAVA_MISSING / JAVA_TOO_OLD with what to install. */
export async function checkJava(javaCommand: string): Promise<number> {
  const output = await new Promise<string>((resolve, reject) => {
    execFile(javaCommand, ["-version"], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error !== null && "code" in error && error.code === "ENOENT") {
        reject(
          new StackError(
            "JAVA_MISSING",
            `${javaCommand} was not found on PATH; the local stack needs Java ${minimumJavaVersion} or newer (Debian: apt-get install openjdk-17-jre-headless)`,
          ),
        );
      } else resolve(`${stderr}\n${stdout}`);
    });
  });
  const version = parseJavaMajorVersion(output);
  if (version === undefined) {
    throw new StackError(
      "JAVA_MISSING",
      `could not read a version from \`${javaCommand} -version\`: ${output.trim().split("\n")[0] ?? ""}`,
    );
  }
  if (version < minimumJavaVersion) {
    throw new StackError(
      "JAVA_TOO_OLD",
      `${javaCommand} is Java ${version}; the local stack needs Java ${minimumJavaVersion} or newer first on PATH (Debian: apt-get install openjdk-17-jre-headless)`,
    );
  }
  return version;
}
