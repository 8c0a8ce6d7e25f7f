/**
 * Rows of the result tables (migrations/0002_cx_results.sql), built from the folds'
 * outputs. Each row's key comes from its content (event ids, minutes, partition),
 * so a replay builds the same rows.
 */
import { summarizeJourney } from '../folds/journey.ts';
import type { StoolWindow } from '../folds/legConsistency.ts';
import { calibrationIdOf, type MetricParams } from '../params.ts';
import type { MetricOutputs } from '../partitionMetrics.ts';
import { chTime } from './rawRows.ts';

export type ResultTable =
  | 'cell_minute' | 'channel_transition_minute' | 'department_impact' | 'channel_drops'
  | 'death_spirals' | 'customer_memory' | 'journeys' | 'late_events' | 'leg_consistency';

/** ClickHouse DateTime (seconds) text. */
export const chMinute = (ms: number) => chTime(ms).slice(0, 19);

export function resultRows(out: MetricOutputs, partition: number, p: MetricParams): Record<Exclude<ResultTable, 'leg_consistency'>, object[]> {
  const calibration_id = calibrationIdOf(p);
  return {
    cell_minute: out.cellMinutes.map(({ minute, cell: c }) => ({
      minute: chMinute(minute), leg: c.leg, channel: c.channel, touchpoint: c.touchpoint, source_partition: partition,
      events: c.events, n: c.n, sum_x: c.sumX, sum_x2: c.sumX2, bad: c.bad, good: c.good, impressed: c.impressed,
    })),
    channel_transition_minute: out.transitionMinutes.map(({ minute, from, to, agg }) => ({
      minute: chMinute(minute), from_channel: from, to_channel: to, source_partition: partition,
      transitions: agg.transitions, starts_good: agg.startsGood, drops: agg.drops,
    })),
    department_impact: out.departmentMinutes.map(({ minute, department, agg }) => ({
      minute: chMinute(minute), department, source_partition: partition, experiences: agg.experiences, bad: agg.bad,
      drops_landed: agg.dropsLanded, spirals_joined: agg.spiralsJoined, memory_impact: agg.memoryImpact, first_experiences: agg.firstExperiences,
      calibration_id,
    })),
    channel_drops: out.drops.map(({ customerId, transition: t }) => ({
      event_id: t.to.event_id, customer_id: customerId, occurred_at: chTime(t.to.t),
      prev_event_id: t.from.event_id, prev_occurred_at: chTime(t.from.t),
      from_channel: t.from.channel, from_touchpoint: t.from.touchpoint, from_department: t.from.department,
      to_channel: t.to.channel, to_touchpoint: t.to.touchpoint, to_department: t.to.department,
      x_prev: t.from.x, x_cur: t.to.x, magnitude: t.magnitude, cross_channel: t.crossChannel, gap_seconds: t.gapMs / 1000,
    })),
    death_spirals: out.spirals.map(({ customerId, event: e }) => ({
      spiral_id: e.run.id, customer_id: customerId, started_at: chTime(e.run.startedAt), last_at: chTime(e.run.lastAt),
      length: e.run.path.length, touchpoints: new Set(e.run.path).size, path: e.run.path, channels: e.run.channels, departments: e.run.departments,
      status: e.change === 'closed' ? 'closed' : 'open',
      closed_at: e.closedAt === null ? null : chTime(e.closedAt), close_reason: e.closeReason,
      // Grows with the length; a close outranks the open row of the same length.
      version: e.run.path.length * 2 + (e.change === 'closed' ? 1 : 0),
      steps: e.run.steps ?? e.run.path.length,
    })),
    customer_memory: out.memory.map(({ touch: e, update: m }) => ({
      customer_id: e.customer_id, event_id: e.event_id, occurred_at: chTime(e.t), channel: e.channel, touchpoint: e.touchpoint,
      department: e.department, x: e.x, class: e.cls, weight: m.weight, memory_before: m.before, memory: m.after,
      at_risk: m.atRisk, recoverable: m.recoverable, experiences: m.experiences, memory_impact: m.impact, calibration_id,
    })),
    journeys: [...out.journeys].map(([journey, customerId]) => {
      const j = summarizeJourney(customerId, journey, p);
      const leg = (name: string) => j.stool.legs.find((l) => l.leg === name);
      return {
        customer_id: j.customerId, journey_id: j.journeyId, started_at: chTime(j.startedAt), last_at: chTime(j.lastAt),
        events: j.events, experiences: j.experiences, score: j.score,
        weakest_x: j.weakest?.x ?? null, weakest_touchpoint: j.weakest?.touchpoint ?? null, weakest_channel: j.weakest?.channel ?? null,
        peak_end: j.peakEnd,
        product_score: leg('PRODUCT')?.score ?? null, operations_score: leg('OPERATIONS')?.score ?? null, sales_marketing_score: leg('SALES_MARKETING')?.score ?? null,
        product_consistency: leg('PRODUCT')?.consistency ?? null, operations_consistency: leg('OPERATIONS')?.consistency ?? null,
        sales_marketing_consistency: leg('SALES_MARKETING')?.consistency ?? null,
        stool_score: j.stool.score, weakest_leg: j.stool.weakestLeg, wobble: j.stool.wobble, stands: j.stool.stands,
        version: j.events, calibration_id,
      };
    }),
    late_events: out.late.map(({ pending: { touch: e, offset }, watermark }) => ({
      event_id: e.event_id, occurred_at: chTime(e.t), customer_id: e.customer_id, channel: e.channel, touchpoint: e.touchpoint,
      watermark: chTime(watermark), behind_ms: watermark - e.t, source_partition: partition, source_offset: offset,
    })),
  };
}

export function legConsistencyRows(w: StoolWindow): object[] {
  const s = w.stool;
  return s.legs.map((l) => ({
    window_end: chMinute(w.end), window_minutes: w.windowMinutes, leg: l.leg, experiences: l.experiences, score: l.score,
    consistency: l.consistency, cells: l.cells, satisfied: l.satisfied, impressed: l.impressed, merely_satisfied: l.merelySatisfied,
    stool_score: s.score, weakest_leg: s.weakestLeg, wobble: s.wobble, stands: s.stands, legs_present: s.legs.length,
  }));
}

