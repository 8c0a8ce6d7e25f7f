/**
 * Queries for the ClickHouse datasource (grafana-clickhouse-datasource), for alert
 * rules and panels alike. The foundation SDK ships query types for core datasources
 * only, so this is a third-party query in the SDK's own shape (a cog Dataquery and its
 * builder), as the SDK's README shows for private plugins.
 */
import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';

/** The datasource provisioned in provisioning/datasources/clickhouse.yaml (a test checks they agree). */
export const CLICKHOUSE_DATASOURCE = { type: 'grafana-clickhouse-datasource', uid: 'cx-clickhouse' } as const satisfies DataSourceRef;

/** The plugin's result formats (its `Format` enum, read by the backend as `format`). */
export const ClickHouseFormat = { TimeSeries: 0, Table: 1, Logs: 2, Traces: 3, Auto: 4 } as const;
export type ClickHouseFormat = (typeof ClickHouseFormat)[keyof typeof ClickHouseFormat];

/** How the plugin's editor shows the query; kept in step with `format`. */
export type ClickHouseQueryType = 'table' | 'timeSeries' | 'logs' | 'traces';

export interface ClickHouseQuery extends Dataquery {
  refId: string;
  datasource: DataSourceRef;
  /** Raw SQL, not the plugin's visual builder. */
  editorType: 'sql';
  queryType: ClickHouseQueryType;
  format: ClickHouseFormat;
  rawSql: string;
}

const QUERY_TYPE_OF_FORMAT: Record<ClickHouseFormat, ClickHouseQueryType> = { 0: 'timeSeries', 1: 'table', 2: 'logs', 3: 'traces', 4: 'table' };

export class ClickHouseQueryBuilder implements Builder<Dataquery> {
  private readonly internal: ClickHouseQuery;

  constructor(rawSql: string) {
    this.internal = {
      refId: 'A',
      datasource: { ...CLICKHOUSE_DATASOURCE },
      editorType: 'sql',
      queryType: 'table',
      format: ClickHouseFormat.Table,
      rawSql,
      _implementsDataqueryVariant() {},
    };
  }

  refId(refId: string): this {
    this.internal.refId = refId;
    return this;
  }

  format(format: ClickHouseFormat): this {
    this.internal.format = format;
    this.internal.queryType = QUERY_TYPE_OF_FORMAT[format];
    return this;
  }

  build(): ClickHouseQuery {
    return this.internal;
  }
}

export function isClickHouseQuery(model: unknown): model is ClickHouseQuery {
  const m = model as Partial<ClickHouseQuery> | null;
  return typeof m?.rawSql === 'string' && m.datasource?.type === CLICKHOUSE_DATASOURCE.type;
}
