import { describe, expect, it } from "vitest";
import { checkJava, parseJavaMajorVersion } from "./java-version.ts";
import { StackError } from "./stack-errors.ts";

describe("parseJavaMajorVersion", () => {
  it("reads modern and legacy version strings", () => {
    expect(parseJavaMajorVersion('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment')).toBe(17);
    expect(parseJavaMajorVersion('openjdk version "21" 2023-09-19')).toBe(21);
    expect(parseJavaMajorVersion('openjdk version "25-ea" 2025-09-16')).toBe(25);
    expect(parseJavaMajorVersion('java version "1.8.0_292"')).toBe(8);
  });

  it("finds nothing in unrelated output", () => {
    expect(parseJavaMajorVersion("bash: java: command not found")).toBeUndefined();
  });
});

describe("checkJava", () => {
  it("names the missing command and what to install", async () => {
    const error: unknown = await checkJava("/nonexistent/java").catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(StackError);
    expect((error as StackError).code).toBe("JAVA_MISSING");
    expect((error as StackError).message).toContain("Java 17");
  });
});
