/** Runs `f` over 0..n-1 with at most `limit` in flight; the results in index order. */
export const pool = async <A>(n: number, limit: number, f: (i: number) => Promise<A>): Promise<Array<A>> => {
  const out = new Array<A>(n)
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < n) {
      const i = next++
      out[i] = await f(i)
    }
  }))
  return out
}
