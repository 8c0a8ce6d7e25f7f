/**
 * Limited-memory BFGS with a strong-Wolfe line search (Nocedal & Wright, Numerical
 * Optimization, 2nd ed., algorithms 7.4, 3.5 and 3.6): minimizes a smooth function
 * given its value and gradient. Deterministic: no randomness, a fixed order of work.
 */

/** Writes the gradient at x into `grad` and returns the value at x. */
export type Objective = (x: Float64Array, grad: Float64Array) => number;

export interface LbfgsOptions {
  maxIterations?: number;
  /** Pairs (s, y) kept. */
  memory?: number;
  /** Stop when the largest gradient component is at most this times max(1, |f|). */
  gradientTolerance?: number;
  /** Stop when an iteration lowers f by at most this times max(1, |f|). */
  valueTolerance?: number;
  /**
   * Curvature pairs to start from (another run's `pairs`): a refit of a similar
   * function (a bootstrap resample) then starts with a good Hessian estimate instead
   * of a steepest-descent step.
   */
  pairs?: CurvaturePairs;
}

export interface CurvaturePairs {
  s: Float64Array[];
  y: Float64Array[];
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
  /** The last curvature pairs, for a warm start elsewhere. */
  pairs: CurvaturePairs;
}

const dot = (a: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
};
const maxAbs = (a: Float64Array): number => {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
};

export function minimizeLbfgs(objective: Objective, x0: ArrayLike<number>, options: LbfgsOptions = {}): LbfgsResult {
  const { maxIterations = 500, memory = 10, gradientTolerance = 1e-7, valueTolerance = 1e-12, pairs } = options;
  const n = x0.length;
  let x: Float64Array = Float64Array.from(x0);
  let g: Float64Array = new Float64Array(n);
  let f = objective(x, g);
  let evaluations = 1;
  const ss: Float64Array[] = pairs ? pairs.s.slice(-memory) : [];
  const ys: Float64Array[] = pairs ? pairs.y.slice(-memory) : [];
  const rhos: number[] = ss.map((si, j) => 1 / dot(si, ys[j] as Float64Array));
  const done = (iterations: number, converged: boolean): LbfgsResult => ({ x, f, iterations, evaluations, converged, pairs: { s: [...ss], y: [...ys] } });
  const d = new Float64Array(n);
  const alpha = new Float64Array(memory);

  for (let iter = 0; iter < maxIterations; iter++) {
    if (maxAbs(g) <= gradientTolerance * Math.max(1, Math.abs(f))) return done(iter, true);

    // Two-loop recursion: d = -H g.
    for (let i = 0; i < n; i++) d[i] = -(g[i] as number);
    const m = ss.length;
    for (let j = m - 1; j >= 0; j--) {
      const a = (rhos[j] as number) * dot(ss[j] as Float64Array, d);
      alpha[j] = a;
      const y = ys[j] as Float64Array;
      for (let i = 0; i < n; i++) d[i] = (d[i] as number) - a * (y[i] as number);
    }
    if (m > 0) {
      const s = ss[m - 1] as Float64Array;
      const y = ys[m - 1] as Float64Array;
      const gamma = dot(s, y) / dot(y, y);
      for (let i = 0; i < n; i++) d[i] = (d[i] as number) * gamma;
    } else {
      // First step: unit length along the steepest descent.
      const norm = Math.sqrt(dot(d, d));
      if (norm > 0) for (let i = 0; i < n; i++) d[i] = (d[i] as number) / norm;
    }
    for (let j = 0; j < m; j++) {
      const y = ys[j] as Float64Array;
      const b = (rhos[j] as number) * dot(y, d);
      const s = ss[j] as Float64Array;
      const c = (alpha[j] as number) - b;
      for (let i = 0; i < n; i++) d[i] = (d[i] as number) + c * (s[i] as number);
    }
    let slope = dot(g, d);
    if (!(slope < 0)) {
      // Not a descent direction (curvature information gone stale): restart from the gradient.
      ss.length = 0;
      ys.length = 0;
      rhos.length = 0;
      const norm = Math.sqrt(dot(g, g));
      for (let i = 0; i < n; i++) d[i] = -(g[i] as number) / norm;
      slope = -norm;
    }

    const step = wolfeLineSearch(objective, x, f, g, d, slope);
    evaluations += step.evaluations;
    if (step.x === null) return done(iter, false);
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = (step.x[i] as number) - (x[i] as number);
      y[i] = (step.g[i] as number) - (g[i] as number);
    }
    const decrease = f - step.f;
    x = step.x;
    g = step.g;
    f = step.f;
    const sy = dot(s, y);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      if (ss.length === memory) {
        ss.shift();
        ys.shift();
        rhos.shift();
      }
      ss.push(s);
      ys.push(y);
      rhos.push(1 / sy);
    }
    if (decrease <= valueTolerance * Math.max(1, Math.abs(f))) return done(iter + 1, true);
  }
  return done(maxIterations, false);
}

interface Point {
  a: number;
  f: number;
  slope: number;
  x: Float64Array;
  g: Float64Array;
}

/** A step along d meeting the strong Wolfe conditions (c1 1e-4, c2 0.9); x null when none was found. */
function wolfeLineSearch(objective: Objective, x0: Float64Array, f0: number, g0: Float64Array, d: Float64Array, slope0: number) {
  const c1 = 1e-4;
  const c2 = 0.9;
  const n = x0.length;
  let evaluations = 0;
  const at = (a: number): Point => {
    const x = new Float64Array(n);
    for (let i = 0; i < n; i++) x[i] = (x0[i] as number) + a * (d[i] as number);
    const g = new Float64Array(n);
    const f = objective(x, g);
    evaluations++;
    return { a, f, slope: dot(g, d), x, g };
  };
  const armijo = (p: Point) => p.f <= f0 + c1 * p.a * slope0;
  const curvature = (p: Point) => Math.abs(p.slope) <= -c2 * slope0;

  const zoom = (lo: Point, hi: Point): Point | null => {
    for (let k = 0; k < 40; k++) {
      // The minimizer of the cubic through both ends' values and slopes, kept away from the ends; else bisect.
      const d1 = lo.slope + hi.slope - (3 * (lo.f - hi.f)) / (lo.a - hi.a);
      const disc = d1 * d1 - lo.slope * hi.slope;
      let a = Number.NaN;
      if (disc >= 0) {
        const d2 = Math.sign(hi.a - lo.a) * Math.sqrt(disc);
        a = hi.a - (hi.a - lo.a) * ((hi.slope + d2 - d1) / (hi.slope - lo.slope + 2 * d2));
      }
      const left = Math.min(lo.a, hi.a);
      const width = Math.abs(hi.a - lo.a);
      if (!Number.isFinite(a) || a < left + 0.1 * width || a > left + 0.9 * width) a = (lo.a + hi.a) / 2;
      if (width < 1e-14 * Math.max(1, Math.abs(lo.a))) break;
      const p = at(a);
      if (!armijo(p) || p.f >= lo.f) hi = p;
      else {
        if (curvature(p)) return p;
        if (p.slope * (hi.a - lo.a) >= 0) hi = lo;
        lo = p;
      }
    }
    // No point met both conditions: the best one that lowered f will do.
    return lo.a > 0 && lo.f < f0 ? lo : null;
  };

  const start: Point = { a: 0, f: f0, slope: slope0, x: x0, g: g0 };
  let prev = start;
  let a = 1;
  let found: Point | null = null;
  for (let i = 0; i < 30; i++) {
    const p = at(a);
    if (!Number.isFinite(p.f) || !armijo(p) || (i > 0 && p.f >= prev.f)) {
      found = Number.isFinite(p.f) ? zoom(prev, p) : zoom(prev, { ...p, f: Number.POSITIVE_INFINITY, slope: Number.POSITIVE_INFINITY });
      break;
    }
    if (curvature(p)) {
      found = p;
      break;
    }
    if (p.slope >= 0) {
      found = zoom(p, prev);
      break;
    }
    prev = p;
    a *= 2;
  }
  return found ? { x: found.x, g: found.g, f: found.f, evaluations } : { x: null, g: g0, f: f0, evaluations };
}
