/** Polls `cond()` every `pollMs` until it holds (true) or `ms` have passed (false). */
export async function waitFor(cond: () => boolean, ms: number, pollMs = 5): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return true;
}
