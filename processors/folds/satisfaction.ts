/**
 * Satisfied vs impressed (docs/metrics.md, "Satisfied vs impressed"): over n experiences, satisfied = good/n,
 * impressed = top-box/n, merely satisfied = (good - impressed)/n. Good counts
 * top-box experiences too, so impressed <= satisfied.
 */
export interface Shares {
  satisfied: number;
  impressed: number;
  merelySatisfied: number;
}

export function satisfaction(n: number, good: number, impressed: number): Shares | null {
  if (n === 0) return null;
  return { satisfied: good / n, impressed: impressed / n, merelySatisfied: (good - impressed) / n };
}
