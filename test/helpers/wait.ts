/**
 * Polls `cond` every 10 ms until it holds; throws "timed out: <what>" after
 * `ms` (generous by default: only a failing test waits that long, and CI
 * machines are slow).
 */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
