// Work on many items, a bounded number at once: the SDK's batch items, the
// filesystem store's record files.

/** `work` for each item, at most `parallelism` at once; the results in the items' order. The first failure rejects, and no item starts after it. */
export async function mapBounded<T, R>(items: readonly T[], parallelism: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T, index);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, parallelism), items.length) }, worker));
  return results;
}
