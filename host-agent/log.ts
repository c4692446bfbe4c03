/** How the agent's parts log (journald stamps the time) and name an error in a log line. */
export type Log = (message: string) => void;

/** An error as a log line shows it: its class when not a plain Error, and its message. */
export function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);
}
