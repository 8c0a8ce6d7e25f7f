/**
 * Department impact (docs/metrics.md, "Department impact"), per department and minute:
 * experiences, bad ones, cross-channel drops that landed on it, spirals it took part
 * in, and memory impact: the sum over its experiences of M_after - M_before of the
 * customer (for experiences at one instant, each one's exact share of the moment's
 * change: MemoryUpdate.impact). The impact is signed (good experiences raise memory, bad ones lower it)
 * and every department is measured the same way. A customer's first experience has no
 * M_before; it is counted in `firstExperiences` and adds nothing to the impact.
 */
import { minuteOf } from '../params.ts';
import type { Touch } from '../touch.ts';
import type { Transition } from './channelDrop.ts';
import type { SpiralEvent } from './deathSpiral.ts';
import type { MemoryUpdate } from './experienceMemory.ts';
import { MinuteBuckets, type BucketKeys } from './minuteBuckets.ts';

export interface DepartmentAggregate {
  experiences: number;
  bad: number;
  dropsLanded: number;
  spiralsJoined: number;
  memoryImpact: number;
  firstExperiences: number;
}

const empty = (): DepartmentAggregate => ({ experiences: 0, bad: 0, dropsLanded: 0, spiralsJoined: 0, memoryImpact: 0, firstExperiences: 0 });

/** Found by department, which is also its checkpoint key. */
export const DEPARTMENT_KEYS: BucketKeys = { join: (department) => department, split: (key) => [key, '', ''] };

export const newDepartmentMinutes = (): MinuteBuckets<DepartmentAggregate> => new MinuteBuckets(DEPARTMENT_KEYS);

export interface ExperienceEffects {
  touch: Touch;
  memory: MemoryUpdate | null;
  transition: Transition | null;
  spirals: SpiralEvent[];
}

export function departmentImpact(state: MinuteBuckets<DepartmentAggregate>, fx: ExperienceEffects): { state: MinuteBuckets<DepartmentAggregate>; out: null } {
  if (!fx.memory) return { state, out: null };
  const minute = minuteOf(fx.touch.t);
  const a = state.bucket(minute, fx.touch.department, '', '', empty);
  a.experiences++;
  if (fx.touch.cls === 'bad') a.bad++;
  if (fx.memory.before === null) a.firstExperiences++;
  else a.memoryImpact += fx.memory.impact ?? 0;
  if (fx.transition?.drop && fx.transition.crossChannel) a.dropsLanded++;
  for (const s of fx.spirals) {
    for (const department of s.joined) state.bucket(minute, department, '', '', empty).spiralsJoined++;
  }
  return { state, out: null };
}
