/**
 * The dashboards' template variables: channel and leg offer the contract's own enum
 * symbols (schemas/, the one source of truth), department the departments seen in the
 * data. All are multi-select with "All"; a panel filters with `anyOf`, which is a no-op
 * (1=1) when "All" is selected, so unfiltered queries stay as cheap as they can be.
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { CHANNEL_SYMBOLS, LEG_SYMBOLS } from '../schemas/types.generated.ts';
import { CLICKHOUSE_DATASOURCE } from './clickhouseQuery.ts';

export type VariableName = 'channel' | 'leg' | 'department';

const all = { selected: true, text: 'All', value: '$__all' };

function fixed(name: VariableName, label: string, description: string, values: readonly string[]) {
  return new dashboard.CustomVariableBuilder(name)
    .label(label)
    .description(description)
    .values(values.join(','))
    .multi(true)
    .includeAll(true)
    .current(all);
}

export function channelVariable() {
  return fixed('channel', 'Channel', 'Channels of the touchpoint contract (cx.touchpoints.v1)', CHANNEL_SYMBOLS);
}

export function legVariable() {
  return fixed('leg', 'Leg', 'The legs of the stool: product, operations, sales & marketing', LEG_SYMBOLS);
}

export function departmentVariable(database: string) {
  return new dashboard.QueryVariableBuilder('department')
    .label('Department')
    .description('Departments that owned a touchpoint in the selected time range')
    .datasource({ ...CLICKHOUSE_DATASOURCE })
    .query(`SELECT DISTINCT department FROM ${database}.department_impact WHERE $__timeFilter(minute) ORDER BY department`)
    .definition(`SELECT DISTINCT department FROM ${database}.department_impact`)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .current(all);
}

/**
 * A filter on `column` by the variable: `column IN (<selected>)`, or 1=1 for "All"
 * (the plugin's $__conditionalAll). `array: true` for an Array(String) column that
 * matches when it holds any selected value.
 */
export function anyOf(column: string, variable: VariableName, o: { array?: boolean } = {}): string {
  const condition = o.array ? `hasAny(${column}, [\${${variable}:singlequote}])` : `${column} IN (\${${variable}:singlequote})`;
  return `$__conditionalAll(${condition}, $${variable})`;
}
