/**
 * `fn` over `items` with at most `width` calls in flight, results in the items' order. A worker pool, not
 * batches: a slow item holds one slot, not a whole batch. The first failure is raised once every call in
 * flight has ended (nothing is left running behind the caller).
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  width: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!Number.isInteger(width) || width < 1)
    throw new Error(`concurrency must be a whole number >= 1, not ${width}`);
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (failure === null && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  if (failure) throw (failure as { error: unknown }).error;
  return results;
}
