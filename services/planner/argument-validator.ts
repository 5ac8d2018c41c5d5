import { Ajv, type ValidateFunction } from "ajv";

/** Validates tool arguments against the JSON Schemas tools publish in tools/list; compiled once per schema. */
export class ArgumentValidator {
  private readonly ajv = new Ajv({ allErrors: true, strict: false });
  private readonly compiled = new Map<string, ValidateFunction>();

  /** Problems with the arguments, empty when they fit the schema. */
  problems(inputSchema: string, value: unknown): string[] {
    let validate = this.compiled.get(inputSchema);
    if (validate === undefined) {
      try {
        validate = this.ajv.compile(JSON.parse(inputSchema) as object);
      } catch (error) {
        return [`the tool's input schema cannot be used: ${(error as Error).message}`];
      }
      this.compiled.set(inputSchema, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map(
      (error) => `${error.instancePath || "(arguments)"} ${error.message ?? "is invalid"}`,
    );
  }
}
