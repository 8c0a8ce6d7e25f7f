/**
 * Expands a panel's SQL the way Grafana and its ClickHouse datasource
 * (grafana-clickhouse-datasource 4.x) would before the query reaches ClickHouse, so the
 * tests can run every panel without Grafana and `cx report` can draw the same panels.
 *
 * In Grafana the work happens in three places, in this order, and so here:
 * 1. the plugin's front end replaces `$__conditionalAll(condition, $var)` by `1=1` when
 *    the variable is set to "All", else by the condition;
 * 2. Grafana interpolates the template variables (`$var`, `${var}`, `${var:format}`,
 *    `[[var]]`) and its global `$__interval`, `$__interval_ms`, `$__from`, `$__to`; the
 *    plugin formats a multi-value variable without an explicit format as `'a','b'`
 *    and a single value as it is;
 * 3. the plugin's back end expands the time macros against the query's range and
 *    interval: `$__timeFilter(col)` is `col >= toDateTime(<from s>) AND col <=
 *    toDateTime(<to s>)`, `$__timeInterval(col)` is `toStartOfInterval(toDateTime(col),
 *    INTERVAL <n> second)`, and so on (see MACROS).
 *
 * Anything left that looks like a macro or a `$variable` is an error, never passed on
 * (`[[x]]` is left alone unless x is a variable: it is also an array of arrays).
 */

export interface VariableValue {
  /** The values the variable offers. */
  options: string[];
  /** 'All', or the selected values. */
  selected: 'All' | string[];
  /** The variable's custom "All" value (Grafana's allValue), used as it is instead of every option. */
  allValue?: string;
}

export interface MacroContext {
  from: Date;
  to: Date;
  /** Grafana's $__interval for the panel, in ms. */
  intervalMs: number;
  variables: Record<string, VariableValue>;
}

export class MacroError extends Error {
  override name = 'MacroError';
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
const isoDate = (d: Date) => d.toISOString().slice(0, 10);

/** The back end's macros: name → (arguments, context) → SQL. The arity is checked before. */
const MACROS: Record<string, { args: number; expand: (a: string[], c: MacroContext) => string }> = {
  timeFilter: { args: 1, expand: ([col], c) => `${col} >= toDateTime(${seconds(c.from)}) AND ${col} <= toDateTime(${seconds(c.to)})` },
  timeFilter_ms: { args: 1, expand: ([col], c) => `${col} >= fromUnixTimestamp64Milli(${c.from.getTime()}) AND ${col} <= fromUnixTimestamp64Milli(${c.to.getTime()})` },
  dateFilter: { args: 1, expand: ([col], c) => `${col} >= toDate('${isoDate(c.from)}') AND ${col} <= toDate('${isoDate(c.to)}')` },
  dateTimeFilter: {
    args: 2,
    expand: ([date, time], c) => `(${MACROS.dateFilter?.expand([date as string], c)}) AND (${MACROS.timeFilter?.expand([time as string], c)})`,
  },
  timeInterval: { args: 1, expand: ([col], c) => `toStartOfInterval(toDateTime(${col}), INTERVAL ${intervalSeconds(c)} second)` },
  timeInterval_ms: { args: 1, expand: ([col], c) => `toStartOfInterval(toDateTime64(${col}, 3), INTERVAL ${Math.max(1, Math.floor(c.intervalMs))} millisecond)` },
  fromTime: { args: 0, expand: (_a, c) => `toDateTime(${seconds(c.from)})` },
  toTime: { args: 0, expand: (_a, c) => `toDateTime(${seconds(c.to)})` },
  fromTime_ms: { args: 0, expand: (_a, c) => `fromUnixTimestamp64Milli(${c.from.getTime()})` },
  toTime_ms: { args: 0, expand: (_a, c) => `fromUnixTimestamp64Milli(${c.to.getTime()})` },
  interval_s: { args: 0, expand: (_a, c) => String(intervalSeconds(c)) },
};

/** Grafana's own global variables that SQL uses. */
const GLOBALS: Record<string, (c: MacroContext) => string> = {
  __interval: (c) => grafanaInterval(c.intervalMs),
  __interval_ms: (c) => String(Math.floor(c.intervalMs)),
  __from: (c) => String(c.from.getTime()),
  __to: (c) => String(c.to.getTime()),
  __range_s: (c) => String(Math.floor((c.to.getTime() - c.from.getTime()) / 1000)),
  __range_ms: (c) => String(c.to.getTime() - c.from.getTime()),
};

function intervalSeconds(c: MacroContext): number {
  return Math.max(1, Math.floor(c.intervalMs / 1000));
}

/** $__interval as Grafana writes it: 1d, 2h, 5m, 30s or 500ms. */
function grafanaInterval(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.floor(ms)}ms`;
}

function snippet(sql: string, at: number): string {
  return JSON.stringify(sql.slice(Math.max(0, at - 20), at + 40));
}

/**
 * The arguments of a call whose "(" is at `open`, split at top-level commas, and the
 * index just past its ")". Parentheses nest; commas and parentheses inside string
 * literals ('…' with '' or \' escapes), quoted identifiers ("…", `…`) and brackets
 * do not count.
 */
export function parseCall(sql: string, open: number): { args: string[]; end: number } {
  if (sql[open] !== '(') throw new MacroError(`expected "(" at ${open}: ${snippet(sql, open)}`);
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < sql.length; i++) {
    const ch = sql[i] as string;
    if (ch === "'" || ch === '"' || ch === '`') {
      i = endOfQuoted(sql, i);
    } else if (ch === '(' || ch === '[') {
      depth++;
    } else if (ch === ')' || ch === ']') {
      depth--;
      if (depth === 0) {
        if (ch !== ')') throw new MacroError(`unbalanced brackets in the arguments at ${i}: ${snippet(sql, i)}`);
        args.push(sql.slice(start, i).trim());
        return { args: args.length === 1 && args[0] === '' ? [] : args, end: i + 1 };
      }
    } else if (ch === ',' && depth === 1) {
      args.push(sql.slice(start, i).trim());
      start = i + 1;
    }
  }
  throw new MacroError(`unbalanced parentheses: the call opened at ${open} is never closed: ${snippet(sql, open)}`);
}

/** Index of the quote that closes the quoted text opening at `at`. */
function endOfQuoted(sql: string, at: number): number {
  const quote = sql[at];
  for (let i = at + 1; i < sql.length; i++) {
    if (sql[i] === '\\') i++;
    else if (sql[i] === quote) {
      if (sql[i + 1] === quote) i++;
      else return i;
    }
  }
  throw new MacroError(`unterminated ${quote} quote opened at ${at}: ${snippet(sql, at)}`);
}

/** Replaces each `$__<name>(…)` call by `replace(args, start)`. */
function replaceCalls(sql: string, name: string, replace: (args: string[], at: number) => string): string {
  const token = `$__${name}`;
  let out = '';
  let from = 0;
  for (;;) {
    const at = sql.indexOf(token, from);
    if (at < 0) return out + sql.slice(from);
    const after = at + token.length;
    // $__timeFilter must not match $__timeFilter_ms.
    if (/\w/.test(sql[after] ?? '')) {
      out += sql.slice(from, after);
      from = after;
      continue;
    }
    let open = after;
    while (sql[open] === ' ') open++;
    if (sql[open] !== '(') throw new MacroError(`${token} needs its arguments in parentheses at ${at}: ${snippet(sql, at)}`);
    const { args, end } = parseCall(sql, open);
    out += sql.slice(from, at) + replace(args, at);
    from = end;
  }
}

function variable(ctx: MacroContext, name: string, at: string): VariableValue {
  const v = ctx.variables[name];
  if (!v) {
    const known = Object.keys(ctx.variables);
    throw new MacroError(`variable $${name} (${at}) is not defined; known: ${known.length ? known.map((k) => `$${k}`).join(', ') : 'none'}`);
  }
  if (v.selected !== 'All' && v.selected.length === 0) throw new MacroError(`variable $${name} has nothing selected: select a value or "All"`);
  return v;
}

const quoteSingle = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const quoteSql = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** Grafana's formats for a variable's values (https://grafana.com/docs/grafana/latest/dashboards/variables/variable-syntax/). */
function format(values: string[], fmt: string | undefined, name: string): string {
  switch (fmt) {
    case undefined:
      // The ClickHouse datasource's own formatting: a list is quoted, one value is left bare.
      return values.length === 1 ? (values[0] as string) : values.map((v) => `'${v}'`).join(',');
    case 'singlequote':
      return values.map(quoteSingle).join(',');
    case 'sqlstring':
      return values.map(quoteSql).join(',');
    case 'doublequote':
      return values.map((v) => `"${v.replace(/"/g, '\\"')}"`).join(',');
    case 'csv':
    case 'raw':
      return values.join(',');
    case 'pipe':
      return values.join('|');
    default:
      throw new MacroError(`variable $${name}: format ":${fmt}" is not supported here (use singlequote, sqlstring, doublequote, csv, raw or pipe)`);
  }
}

function interpolate(sql: string, ctx: MacroContext): string {
  return sql.replace(/\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)/g, (whole, n1?: string, f1?: string, n2?: string, f2?: string, n3?: string) => {
    const name = (n1 ?? n2 ?? n3) as string;
    const fmt = f1 ?? f2;
    if (name.startsWith('__')) {
      const global = GLOBALS[name];
      // Macros ($__timeFilter...) are the back end's, expanded after this.
      return global && !fmt ? global(ctx) : whole;
    }
    // [[x]] is also ClickHouse's array of arrays: as in Grafana, it is a variable only if one is defined by that name.
    if (n2 !== undefined && !ctx.variables[name]) return whole;
    const v = variable(ctx, name, whole);
    if (v.selected === 'All' && v.allValue !== undefined) return v.allValue;
    return format(v.selected === 'All' ? v.options : v.selected, fmt, name);
  });
}

/** The SQL as ClickHouse would receive it from Grafana for this range, interval and selection. */
export function expandMacros(sql: string, ctx: MacroContext): string {
  if (!(ctx.from.getTime() < ctx.to.getTime())) throw new MacroError(`the time range must run forwards: from ${ctx.from.toISOString()} to ${ctx.to.toISOString()}`);
  // 1. The front end's $__conditionalAll, on the text as written.
  let out = replaceCalls(sql, 'conditionalAll', (args, at) => {
    if (args.length !== 2) throw new MacroError(`$__conditionalAll takes 2 arguments (a condition and a variable), got ${args.length} at ${at}: ${snippet(sql, at)}`);
    const ref = /^\$\{?(\w+)\}?$/.exec(args[1] as string);
    if (!ref) throw new MacroError(`$__conditionalAll's second argument must be a variable like $channel, got ${JSON.stringify(args[1])}`);
    const v = variable(ctx, ref[1] as string, `in $__conditionalAll at ${at}`);
    return v.selected === 'All' ? '1=1' : (args[0] as string);
  });
  // 2. Template and global variables.
  out = interpolate(out, ctx);
  // 3. The back end's macros.
  for (const [name, macro] of Object.entries(MACROS)) {
    if (macro.args === 0) {
      out = out.replace(new RegExp(`\\$__${name}(?!\\w)`, 'g'), () => macro.expand([], ctx));
    } else {
      out = replaceCalls(out, name, (args, at) => {
        if (args.length !== macro.args || args.some((a) => a === '')) {
          throw new MacroError(`$__${name} takes ${macro.args} argument${macro.args === 1 ? '' : 's'}, got ${args.length} at ${at}: ${snippet(out, at)}`);
        }
        return macro.expand(args, ctx);
      });
    }
  }
  const left = /\$__\w+|\$\{[^}]*\}/.exec(out);
  if (left) throw new MacroError(`unknown macro or variable ${left[0]} at ${left.index}: ${snippet(out, left.index)}`);
  return out;
}

/** The template variables a query refers to (not Grafana's $__ names). */
export function referencedVariables(sql: string): string[] {
  const names = [...sql.matchAll(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)/g)].map((m) => (m[1] ?? m[2] ?? m[3]) as string);
  return [...new Set(names.filter((n) => !n.startsWith('__')))];
}
