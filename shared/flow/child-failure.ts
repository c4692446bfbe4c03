/**
 * What a parent machine's Map learns of a child execution that failed (a host evacuation's rebuild child,
 * a drain's migrate child): the Catch's `{Error, Cause}` of `startExecution.sync:2`, read back as the
 * child's own error name and message.
 */
/** Error name and message of a failed child execution, from the Catch's `{Error, Cause}`. */
export function childFailure(child: { Error: string; Cause?: string }): { error: string; message: string } {
  const parse = (text: string | undefined): Record<string, unknown> | null => {
    try {
      const v: unknown = JSON.parse(text ?? "");
      return v && typeof v === "object" ? (v as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };
  // startExecution.sync:2 failing: Cause is the described child execution, with the child's Error/Cause.
  const described = parse(child.Cause);
  if (described && typeof described.Error === "string") {
    const inner = parse(typeof described.Cause === "string" ? described.Cause : undefined);
    const message =
      inner && typeof inner.errorMessage === "string"
        ? inner.errorMessage
        : String(described.Cause ?? described.Error);
    return { error: described.Error, message };
  }
  return { error: child.Error, message: child.Cause ?? child.Error };
}
