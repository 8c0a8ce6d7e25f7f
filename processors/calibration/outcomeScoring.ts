/**
 * How well a score predicts a good outcome (docs/metrics.md, "Outcome calibration and
 * key drivers"): the AUC (ties count one half), the log loss of P(good) = σ(a + b·score),
 * and the (a, b) that fit a score on training samples.
 */

/** σ(z) = 1 / (1 + e^-z), without overflow. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** log(1 + e^z), without overflow. */
export function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/**
 * The chance that a random good sample scores above a random bad one, ties counting
 * one half (the Mann-Whitney U over good × bad pairs). NaN without a good or a bad sample.
 * `pick` chooses the samples (default: all).
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>, pick?: (i: number) => boolean): number {
  const idx: number[] = [];
  for (let i = 0; i < scores.length; i++) if (!pick || pick(i)) idx.push(i);
  idx.sort((a, b) => (scores[a] as number) - (scores[b] as number));
  let good = 0;
  let bad = 0;
  // Sum over good samples of (bad samples below it + half the bad samples tied with it).
  let u = 0;
  let badBelow = 0;
  for (let i = 0; i < idx.length; ) {
    const s = scores[idx[i] as number] as number;
    let j = i;
    let g = 0;
    let b = 0;
    while (j < idx.length && scores[idx[j] as number] === s) {
      if (labels[idx[j] as number] === 1) g++;
      else b++;
      j++;
    }
    u += g * (badBelow + b / 2);
    badBelow += b;
    good += g;
    bad += b;
    i = j;
  }
  return good === 0 || bad === 0 ? Number.NaN : u / (good * bad);
}

/** Mean log loss of P(good) = σ(a + b·score) over the picked samples (natural log). */
export function logLoss(scores: ArrayLike<number>, labels: ArrayLike<number>, a: number, b: number, pick?: (i: number) => boolean): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < scores.length; i++) {
    if (pick && !pick(i)) continue;
    const z = a + b * (scores[i] as number);
    // -[y log σ(z) + (1 - y) log(1 - σ(z))] = log(1 + e^z) - y z
    sum += softplus(z) - (labels[i] === 1 ? z : 0);
    n++;
  }
  return n === 0 ? Number.NaN : sum / n;
}

/**
 * The (a, b) of P(good) = σ(a + b·score) with the least log loss over the picked
 * samples (weights: how many times each counts). Newton's method on two parameters:
 * the log loss is convex in (a, b), and a step that does not lower it is halved.
 */
export function fitLogistic(scores: ArrayLike<number>, labels: ArrayLike<number>, weights?: ArrayLike<number>): { a: number; b: number } {
  const loss = (a: number, b: number) => {
    let s = 0;
    for (let i = 0; i < scores.length; i++) {
      const w = weights ? (weights[i] as number) : 1;
      if (w === 0) continue;
      const z = a + b * (scores[i] as number);
      s += w * (softplus(z) - (labels[i] === 1 ? z : 0));
    }
    return s;
  };
  // Start at the base rate with b = 0.
  let n = 0;
  let pos = 0;
  for (let i = 0; i < scores.length; i++) {
    const w = weights ? (weights[i] as number) : 1;
    n += w;
    if (labels[i] === 1) pos += w;
  }
  if (n === 0 || pos === 0 || pos === n) return { a: n === 0 ? 0 : Math.log((pos + 0.5) / (n - pos + 0.5)), b: 0 };
  let a = Math.log(pos / (n - pos));
  let b = 0;
  let f = loss(a, b);
  for (let iter = 0; iter < 100; iter++) {
    let ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
    for (let i = 0; i < scores.length; i++) {
      const w = weights ? (weights[i] as number) : 1;
      if (w === 0) continue;
      const s = scores[i] as number;
      const p = sigmoid(a + b * s);
      const r = w * (p - (labels[i] === 1 ? 1 : 0));
      const v = w * p * (1 - p);
      ga += r;
      gb += r * s;
      haa += v;
      hab += v * s;
      hbb += v * s * s;
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 1e-12 * Math.max(1, haa * hbb))) break; // the score does not vary: b stays 0
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    let step = 1;
    let next = loss(a - da, b - db);
    while (next > f && step > 1e-10) {
      step /= 2;
      next = loss(a - step * da, b - step * db);
    }
    if (next > f) break;
    a -= step * da;
    b -= step * db;
    const done = f - next <= 1e-12 * Math.max(1, Math.abs(f));
    f = next;
    if (done) break;
  }
  return { a, b };
}
