/**
 * What a calibration is fitted on (docs/metrics.md, "Outcome calibration and key
 * drivers"): per customer, their experiences in time order and their labelled outcomes,
 * in flat typed arrays (a million experiences take about 30 MB), plus per touchpoint
 * its leg, department and visit counts.
 */

export interface TouchpointInfo {
  touchpoint: string;
  /** The leg and department most of its events name. */
  leg: string;
  department: string;
}

export interface CalibrationData {
  touchpoints: TouchpointInfo[];
  /** Visits per touchpoint: experiences plus traffic (unrated OK events). */
  visits: Float64Array;
  customers: string[];
  /** Customer c's experiences are [expStart[c], expStart[c + 1]), in time order. */
  expStart: Int32Array;
  expT: Float64Array;
  expTp: Int32Array;
  expX: Float64Array;
  expBad: Uint8Array;
  /** At a moment of truth (for the default memory's weights). */
  expMot: Uint8Array;
  /** Customer c's labelled outcomes are [outStart[c], outStart[c + 1]), in time order. */
  outStart: Int32Array;
  outT: Float64Array;
  /** 1 good, 0 bad. */
  outGood: Uint8Array;
}

export interface ExperienceRow {
  t: number;
  touchpoint: string;
  leg: string;
  department: string;
  x: number;
  bad: boolean;
  mot: boolean;
}

export interface OutcomeRow {
  t: number;
  good: boolean;
}

class Growing<T extends Float64Array | Int32Array | Uint8Array> {
  length = 0;
  constructor(private make: (n: number) => T, public data: T = make(1024)) {}
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = this.make(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
}

/** Builds CalibrationData customer by customer (the store's pages, a simulator, a test). */
export class CalibrationDataBuilder {
  private tpIndex = new Map<string, number>();
  private tpNames: string[] = [];
  private legCounts: Map<string, number>[] = [];
  private deptCounts: Map<string, number>[] = [];
  private traffic: number[] = [];
  private customers: string[] = [];
  private expStart = new Growing((n) => new Int32Array(n));
  private expT = new Growing((n) => new Float64Array(n));
  private expTp = new Growing((n) => new Int32Array(n));
  private expX = new Growing((n) => new Float64Array(n));
  private expBad = new Growing((n) => new Uint8Array(n));
  private expMot = new Growing((n) => new Uint8Array(n));
  private outStart = new Growing((n) => new Int32Array(n));
  private outT = new Growing((n) => new Float64Array(n));
  private outGood = new Growing((n) => new Uint8Array(n));

  private touchpoint(name: string): number {
    let i = this.tpIndex.get(name);
    if (i === undefined) {
      i = this.tpNames.length;
      this.tpIndex.set(name, i);
      this.tpNames.push(name);
      this.legCounts.push(new Map());
      this.deptCounts.push(new Map());
      this.traffic.push(0);
    }
    return i;
  }

  /** Unrated OK visits at a touchpoint (traffic: not experiences, but visits). */
  addTraffic(touchpoint: string, leg: string, department: string, visits: number): void {
    const i = this.touchpoint(touchpoint);
    this.traffic[i] = (this.traffic[i] as number) + visits;
    this.count(i, leg, department, visits);
  }

  private count(i: number, leg: string, department: string, n: number): void {
    const legs = this.legCounts[i] as Map<string, number>;
    legs.set(leg, (legs.get(leg) ?? 0) + n);
    const depts = this.deptCounts[i] as Map<string, number>;
    depts.set(department, (depts.get(department) ?? 0) + n);
  }

  /** One customer: experiences and outcomes, each in any order (sorted here by time). */
  addCustomer(id: string, experiences: readonly ExperienceRow[], outcomes: readonly OutcomeRow[]): void {
    this.customers.push(id);
    this.expStart.push(this.expT.length);
    this.outStart.push(this.outT.length);
    const exps = [...experiences].sort((a, b) => a.t - b.t);
    for (const e of exps) {
      if (!(e.x >= 0 && e.x <= 1)) throw new RangeError(`customer ${id}: experience value ${e.x} at ${e.touchpoint} is outside [0, 1]`);
      const i = this.touchpoint(e.touchpoint);
      this.count(i, e.leg, e.department, 1);
      this.expT.push(e.t);
      this.expTp.push(i);
      this.expX.push(e.x);
      this.expBad.push(e.bad ? 1 : 0);
      this.expMot.push(e.mot ? 1 : 0);
    }
    for (const o of [...outcomes].sort((a, b) => a.t - b.t)) {
      this.outT.push(o.t);
      this.outGood.push(o.good ? 1 : 0);
    }
  }

  /**
   * The data in a canonical order, customers by id and touchpoints by name, so the fit
   * (whose sums follow this order) is the same however the rows were read or paged.
   */
  build(): CalibrationData {
    const mostCommon = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? '';
    const byName = this.tpNames.map((_, i) => i).sort((a, b) => ((this.tpNames[a] as string) < (this.tpNames[b] as string) ? -1 : 1));
    const tpRank = new Int32Array(byName.length);
    byName.forEach((old, rank) => (tpRank[old] = rank));
    const order = this.customers.map((_, c) => c).sort((a, b) => ((this.customers[a] as string) < (this.customers[b] as string) ? -1 : (this.customers[a] as string) > (this.customers[b] as string) ? 1 : 0));
    const nExp = this.expT.length;
    const nOut = this.outT.length;
    const expStartIn = this.expStart.data;
    const outStartIn = this.outStart.data;
    const expEnd = (c: number) => (c + 1 < this.customers.length ? (expStartIn[c + 1] as number) : nExp);
    const outEnd = (c: number) => (c + 1 < this.customers.length ? (outStartIn[c + 1] as number) : nOut);
    const expStart = new Int32Array(order.length + 1);
    const outStart = new Int32Array(order.length + 1);
    const expT = new Float64Array(nExp);
    const expTp = new Int32Array(nExp);
    const expX = new Float64Array(nExp);
    const expBad = new Uint8Array(nExp);
    const expMot = new Uint8Array(nExp);
    const outT = new Float64Array(nOut);
    const outGood = new Uint8Array(nOut);
    let e = 0;
    let o = 0;
    order.forEach((c, k) => {
      expStart[k] = e;
      outStart[k] = o;
      for (let j = expStartIn[c] as number; j < expEnd(c); j++, e++) {
        expT[e] = this.expT.data[j] as number;
        expTp[e] = tpRank[this.expTp.data[j] as number] as number;
        expX[e] = this.expX.data[j] as number;
        expBad[e] = this.expBad.data[j] as number;
        expMot[e] = this.expMot.data[j] as number;
      }
      for (let j = outStartIn[c] as number; j < outEnd(c); j++, o++) {
        outT[o] = this.outT.data[j] as number;
        outGood[o] = this.outGood.data[j] as number;
      }
    });
    expStart[order.length] = e;
    outStart[order.length] = o;
    const visits = Float64Array.from(byName, (old) => this.traffic[old] as number);
    for (const i of expTp) visits[i] = (visits[i] as number) + 1;
    return {
      touchpoints: byName.map((old) => ({
        touchpoint: this.tpNames[old] as string,
        leg: mostCommon(this.legCounts[old] as Map<string, number>),
        department: mostCommon(this.deptCounts[old] as Map<string, number>),
      })),
      visits,
      customers: order.map((c) => this.customers[c] as string),
      expStart,
      expT,
      expTp,
      expX,
      expBad,
      expMot,
      outStart,
      outT,
      outGood,
    };
  }
}
