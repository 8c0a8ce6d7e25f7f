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
  done(): T {
    return this.data.slice(0, this.length) as T;
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

  build(): CalibrationData {
    const mostCommon = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? '';
    const expTp = this.expTp.done();
    const visits = Float64Array.from(this.traffic);
    for (const i of expTp) visits[i] = (visits[i] as number) + 1;
    const expStart = this.expStart.done();
    const outStart = this.outStart.done();
    const ends = (starts: Int32Array, end: number) => {
      const a = new Int32Array(starts.length + 1);
      a.set(starts);
      a[starts.length] = end;
      return a;
    };
    return {
      touchpoints: this.tpNames.map((touchpoint, i) => ({
        touchpoint,
        leg: mostCommon(this.legCounts[i] as Map<string, number>),
        department: mostCommon(this.deptCounts[i] as Map<string, number>),
      })),
      visits,
      customers: this.customers,
      expStart: ends(expStart, this.expT.length),
      expT: this.expT.done(),
      expTp,
      expX: this.expX.done(),
      expBad: this.expBad.done(),
      expMot: this.expMot.done(),
      outStart: ends(outStart, this.outT.length),
      outT: this.outT.done(),
      outGood: this.outGood.done(),
    };
  }
}
