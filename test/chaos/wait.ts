export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Checks every `everyMs` until `check` holds or `timeoutMs` passed; says which. Polls gently:
 * the nodes and apps being measured share the machine's cores with it.
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  o: { timeoutMs: number; everyMs?: number },
): Promise<boolean> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return true;
    if (Date.now() >= deadline) return false;
    await sleep(o.everyMs ?? 200);
  }
}
