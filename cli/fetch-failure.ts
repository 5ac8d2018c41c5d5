/** Why a `fetch` failed, in a word people can act on: `ECONNREFUSED`, `timed out`, `bad port`. */
export function fetchFailureReason(error: unknown): string {
  if (error instanceof Error && error.name === "TimeoutError") return "timed out";
  const cause = (error as { cause?: unknown }).cause;
  if (typeof cause === "object" && cause !== null) {
    const { code, message } = cause as { code?: unknown; message?: unknown };
    if (typeof code === "string") return code;
    if (typeof message === "string" && message !== "") return message;
  }
  return error instanceof Error ? error.message : String(error);
}
