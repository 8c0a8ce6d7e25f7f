import Table from 'cli-table3';

/** Renders query rows as a terminal table (columns in the order ClickHouse returned them). */
export function renderTable(columns: string[], rows: Record<string, unknown>[]): string {
  const table = new Table({ head: columns, style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } });
  for (const r of rows) {
    table.push(columns.map((c) => {
      const v = r[c];
      return v === null || v === undefined ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    }));
  }
  return `${table.toString()}\n${rows.length} row${rows.length === 1 ? '' : 's'}`;
}
