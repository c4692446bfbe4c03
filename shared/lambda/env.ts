/** Reading the Lambda functions' settings from their environment. */

/** The variable as a positive number, else `fallback` (unset, empty, not a number, zero or negative). */
export function positiveFromEnv(value: string | undefined, fallback: number): number {
  const n = value === undefined ? Number.NaN : Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}
