/** Helpers shared by the query modules (no SQL here). */

/**
 * Turns `group by` rows (`k` the key, `n` a count, as a number or the string PostgreSQL returns for bigint) into a
 * record with every key of `keys` present (0 when no row had it); keys outside `keys` are kept too.
 */
export function countsByKey(keys: readonly string[], rows: readonly { k: string; n: number | string }[]): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(keys.map((k) => [k, 0]));
  for (const r of rows) out[r.k] = Number(r.n);
  return out;
}
