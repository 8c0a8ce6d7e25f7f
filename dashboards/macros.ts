/**
 * Expands a panel's SQL the way Grafana and its ClickHouse datasource
 * (grafana-clickhouse-datasource 4.x) do before the query reaches ClickHouse, so tests can
 * run a panel's rawSql without Grafana and `cx report` can run it for any time range.
 *
 * Grafana works in three steps, and so does expandMacros:
 * 1. The plugin's front end replaces each `$__conditionalAll(condition, $var)` by `1=1`
 *    when $var is "All" (or its value is ''), else by the condition as written; the last
 *    call first (src/data/CHDatasource.ts applyConditionalAll, the same from v4.0.0 to v4.20.0).
 * 2. Grafana interpolates template variables and its globals $__interval, $__interval_ms,
 *    $__from, $__to (grafana/scenes: variables/constants.ts VARIABLE_REGEX,
 *    interpolation/sceneInterpolator.ts, interpolation/formatRegistry.ts). Without a
 *    format, the plugin's own formatter turns a list into `'a','b'`, unescaped, and leaves
 *    one value bare (CHDatasource.ts `format`).
 * 3. The plugin's back end expands its macros against the query's range and interval
 *    (pkg/macros/macros.go v4.20.0, parsed by grafana/macropro; the same SQL since v4.0.3,
 *    $__dateTimeFilter and its alias $__dt since v4.2.0). Macros nested in a macro's
 *    arguments are expanded first, as v4.20.0 does.
 *
 * Where the plugin would pass something on unexpanded or quietly different, this throws a
 * MacroError instead: unknown macros and variables, a malformed call, an unsupported format.
 * Arguments are split as ClickHouse reads SQL (nesting of () [] {}, '…' "…" `…` with \ and
 * doubled-quote escapes, -- and /* *\/ comments): the front end counts parentheses only,
 * and before v4.19 the back end split at every comma.
 * Like Grafana's front end, this works on the text: a macro or variable inside a string
 * literal or comment is expanded too. (From v4.19 the back end blanks comments before
 * expanding, so a back-end macro in a comment is dropped there; same SQL to run.)
 */

export interface VariableValue {
  /** The values the variable offers; "All" stands for every one of them. */
  options: string[];
  /** 'All', or the selected values. */
  selected: 'All' | string[];
  /** Grafana's custom all value (e.g. '%'), put in unformatted when "All" is selected. As in Grafana, '' means none. */
  allValue?: string;
  /**
   * Grafana's "Multi-value"; true unless said otherwise, as for every variable of these
   * dashboards. A multi-value variable's selection is a list even of one value (so
   * `$var` is `'a'`); a single-value variable's is one bare value (`$var` is `a`).
   */
  multi?: boolean;
}

export interface MacroContext {
  from: Date;
  to: Date;
  /** Grafana's $__interval for the panel, in ms: a positive whole number. */
  intervalMs: number;
  variables: Record<string, VariableValue>;
}

export class MacroError extends Error {
  override name = 'MacroError';
}

/** The SQL ClickHouse would receive from Grafana for this range, interval and selection. */
export function expandMacros(sql: string, ctx: MacroContext): string {
  checkContext(ctx);
  return expandBackEndMacros(interpolateVariables(applyConditionalAll(sql, ctx), ctx), ctx);
}

/**
 * The template variables a query refers to, in order of first use (not Grafana's own `$__`
 * names). A [[name]] counts, though expandMacros leaves it alone when no variable has that name.
 */
export function referencedVariables(sql: string): string[] {
  return unique([...sql.matchAll(VARIABLE)].map(nameOf).filter((n): n is string => n !== undefined && !n.startsWith('__')));
}

/** The `$__` macros and globals a query uses, as `$__name`, in order of first use. */
export function referencedMacros(sql: string): string[] {
  return unique([...sql.matchAll(VARIABLE)].map(nameOf).filter((n): n is string => n?.startsWith('__') === true).map((n) => `$${n}`));
}

// --- Step 1: $__conditionalAll (the plugin's front end) ---------------------------------

const CONDITIONAL_ALL = '$__conditionalAll';

function applyConditionalAll(sql: string, ctx: MacroContext): string {
  for (let at = lastToken(sql, CONDITIONAL_ALL, sql.length); at >= 0; at = at > 0 ? lastToken(sql, CONDITIONAL_ALL, at - 1) : -1) {
    const open = at + CONDITIONAL_ALL.length;
    // The plugin looks for "$__conditionalAll(" exactly; anything else would reach ClickHouse as written.
    if (sql[open] !== '(') throw new MacroError(`$__conditionalAll needs "(" right after its name, ${where(sql, at)}`);
    const { args, end } = callArguments(sql, open, CONDITIONAL_ALL);
    const [condition = '', variableArg = ''] = args;
    if (args.length !== 2 || condition.trim() === '') {
      throw new MacroError(`$__conditionalAll takes 2 arguments (a condition and a variable such as $channel), got ${describeArgs(args)}, ${where(sql, at)}`);
    }
    const ref = /^\$(?:(\w+)|\{(\w+)\})$/.exec(variableArg.trim());
    const name = ref?.[1] ?? ref?.[2];
    if (name === undefined) {
      throw new MacroError(`$__conditionalAll's second argument must be a variable written $name or \${name}, got ${JSON.stringify(variableArg.trim())}, ${where(sql, at)}`);
    }
    const v = lookUp(ctx, name, `$__conditionalAll ${where(sql, at)}`);
    // The plugin tests current.value.toString(): '$__all' for "All" (custom all value or not), '' for an empty value.
    const all = v.selected === 'All' || (v.selected.length === 1 && v.selected[0] === '');
    // The condition is put back exactly as written, spaces included, as the plugin does.
    sql = sql.slice(0, at) + (all ? '1=1' : condition) + sql.slice(end);
  }
  return sql;
}

// --- Step 2: template variables and Grafana's globals -----------------------------------

/**
 * Grafana's variable syntaxes: $name, [[name]] or [[name:format]], ${name} or
 * ${name:format}; the last alternative catches the ${…} forms not supported here
 * (field paths such as ${name.key}).
 */
const VARIABLE = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}|\$\{[^}]*\}?/g;
const nameOf = (m: RegExpMatchArray) => m[1] ?? m[2] ?? m[4];

/** Grafana's globals that matter in SQL (scenes: macros/timeMacros.ts; querying/SceneQueryRunner.ts sets __interval). */
const GLOBALS = new Map<string, (c: MacroContext) => string>([
  ['__interval', (c) => grafanaInterval(c.intervalMs)],
  ['__interval_ms', (c) => String(c.intervalMs)],
  ['__from', (c) => String(c.from.getTime())],
  ['__to', (c) => String(c.to.getTime())],
]);

function interpolateVariables(sql: string, ctx: MacroContext): string {
  let out = '';
  let last = 0;
  for (const m of sql.matchAll(VARIABLE)) {
    const at = m.index ?? 0;
    out += sql.slice(last, at) + replaceVariable(m, sql, at, ctx);
    last = at + m[0].length;
  }
  return out + sql.slice(last);
}

function replaceVariable(m: RegExpMatchArray, sql: string, at: number, ctx: MacroContext): string {
  const [text, plain, bracketed, bracketFormat, braced, bracedFormat] = m;
  const name = plain ?? bracketed ?? braced;
  if (name === undefined) throw new MacroError(`unsupported variable syntax ${text}, ${where(sql, at)}: write $name, \${name} or \${name:format}`);
  const format = bracketFormat ?? bracedFormat;
  const global = GLOBALS.get(name);
  if (global) return formatValue(global(ctx), format, text);
  // [[x]] is also ClickHouse's array of arrays: as in Grafana, it is a variable only if one has that name.
  if (bracketed !== undefined && (name.startsWith('__') || !Object.hasOwn(ctx.variables, name))) return text;
  if (name.startsWith('__')) {
    // A back-end macro such as $__timeFilter: step 3 expands it, or refuses it if unknown.
    if (plain !== undefined) return text;
    throw new MacroError(`${text}, ${where(sql, at)}: Grafana has no such global variable for SQL (known: ${[...GLOBALS.keys()].map((g) => `$${g}`).join(', ')})`);
  }
  const v = lookUp(ctx, name, `${text} ${where(sql, at)}`);
  // A custom all value is put in as it is, whatever the format (scenes: MultiValueVariable.ts CustomAllValue).
  if (v.selected === 'All' && v.allValue) return v.allValue;
  const values = v.selected === 'All' ? v.options : v.selected;
  return formatValue(v.multi === false && v.selected !== 'All' ? (values[0] as string) : values, format, text);
}

/** A value as Grafana formats it (scenes: interpolation/formatRegistry.ts): a list for a multi-value variable or "All", else one string. */
function formatValue(value: string | string[], format: string | undefined, text: string): string {
  const list = typeof value === 'string' ? [value] : value;
  switch (format) {
    case undefined:
      // The ClickHouse datasource's formatter (CHDatasource.ts `format`): no escaping at all.
      return typeof value === 'string' ? value : `'${value.join("','")}'`;
    case 'singlequote':
      return list.map((v) => `'${v.replace(/'/g, "\\'")}'`).join(',');
    case 'sqlstring':
      return list.map((v) => `'${v.replace(/'/g, "''").replace(/"/g, '\\"')}'`).join(',');
    case 'doublequote':
      return list.map((v) => `"${v.replace(/"/g, '\\"')}"`).join(',');
    case 'csv':
    case 'raw':
      return list.join(',');
    case 'pipe':
      return list.join('|');
    case 'glob':
      return list.length > 1 ? `{${list.join(',')}}` : list.join(',');
    case 'date':
    case 'date:iso':
    case 'date:ms':
    case 'date:seconds': {
      const ms = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : NaN;
      if (Number.isNaN(ms)) throw new MacroError(`${text}: the date format needs one epoch-ms value such as $__from, got ${JSON.stringify(value)}`);
      if (format === 'date:ms') return value as string;
      // Grafana rounds here, where the plugin's time macros floor.
      return format === 'date:seconds' ? String(Math.round(ms / 1000)) : new Date(ms).toISOString();
    }
    default:
      // Grafana would fall back to glob; a typo here is better caught.
      throw new MacroError(`${text}: format ":${format}" is not supported here (use singlequote, sqlstring, doublequote, csv, raw, pipe, glob, or date, date:iso, date:ms, date:seconds)`);
  }
}

/** $__interval as Grafana writes it: the count of the largest unit that fits, floored (@grafana/data rangeutil secondsToHms). */
function grafanaInterval(ms: number): string {
  const units = [['y', 31_536_000_000], ['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const;
  const [unit, size] = units.find(([, size]) => ms >= size) ?? ['ms', 1];
  return `${Math.floor(ms / size)}${unit}`;
}

// --- Step 3: the plugin's back-end macros (pkg/macros/macros.go, v4.20.0) ----------------

interface BackEndMacro {
  /** What each argument is, for error messages; the arity. */
  params: readonly string[];
  expand(args: string[], c: MacroContext): string;
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000); // Go's time.Unix(), a floor
const dateTime = (d: Date) => `toDateTime(${seconds(d)})`;
const dateTime64 = (d: Date) => `fromUnixTimestamp64Milli(${d.getTime()})`;
// The plugin formats the date in its process's time zone, UTC in Grafana's Docker image.
const date = (d: Date) => `toDate('${d.toISOString().slice(0, 10)}')`;
const between = (col: string, from: string, to: string) => `${col} >= ${from} AND ${col} <= ${to}`;
// Go's int(math.Max(interval.Seconds(), 1)): whole seconds, at least 1.
const intervalSeconds = (c: MacroContext) => Math.max(1, Math.floor(c.intervalMs / 1000));

const none = (f: (c: MacroContext) => string): BackEndMacro => ({ params: [], expand: (_args, c) => f(c) });
const column = (f: (col: string, c: MacroContext) => string): BackEndMacro => ({ params: ['column'], expand: ([col = ''], c) => f(col, c) });
const dateAndTime: BackEndMacro = {
  params: ['date column', 'time column'],
  expand: ([d = '', t = ''], c) => `(${between(d, date(c.from), date(c.to))}) AND (${between(t, dateTime(c.from), dateTime(c.to))})`,
};

const BACK_END_MACROS = new Map<string, BackEndMacro>([
  ['timeFilter', column((col, c) => between(col, dateTime(c.from), dateTime(c.to)))],
  ['timeFilter_ms', column((col, c) => between(col, dateTime64(c.from), dateTime64(c.to)))],
  ['dateFilter', column((col, c) => between(col, date(c.from), date(c.to)))],
  ['dateTimeFilter', dateAndTime],
  ['dt', dateAndTime],
  ['timeInterval', column((col, c) => `toStartOfInterval(toDateTime(${col}), INTERVAL ${intervalSeconds(c)} second)`)],
  ['timeInterval_ms', column((col, c) => `toStartOfInterval(toDateTime64(${col}, 3), INTERVAL ${Math.max(1, c.intervalMs)} millisecond)`)],
  ['fromTime', none((c) => dateTime(c.from))],
  ['toTime', none((c) => dateTime(c.to))],
  ['fromTime_ms', none((c) => dateTime64(c.from))],
  ['toTime_ms', none((c) => dateTime64(c.to))],
  ['interval_s', none((c) => String(intervalSeconds(c)))],
]);

/** Names Grafana or the plugin know, refused here with the reason and what to write instead. */
const REFUSED = new Map<string, string>([
  ['timeFrom', 'the plugin expands it to toDateTime only from v4.19 (an RFC 3339 string before): write "col >= $__fromTime"'],
  ['timeTo', 'the plugin expands it to toDateTime only from v4.19 (an RFC 3339 string before): write "col <= $__toTime"'],
  ['timeGroup', 'before v4.19 the plugin expands it to SQL Server datepart(), which ClickHouse rejects: use $__timeInterval(col)'],
  ['table', 'it is the query builder\'s table, which a raw SQL panel does not have'],
  ['column', 'it is the query builder\'s column, which a raw SQL panel does not have'],
  ['range', 'Grafana interpolates $__range only for Prometheus and Loki: use dateDiff(\'second\', $__fromTime, $__toTime)'],
  ['range_s', 'Grafana interpolates $__range_s only for Prometheus and Loki: use dateDiff(\'second\', $__fromTime, $__toTime)'],
  ['range_ms', 'Grafana interpolates $__range_ms only for Prometheus and Loki: use dateDiff(\'millisecond\', $__fromTime_ms, $__toTime_ms)'],
  ['adHocFilters', 'ad hoc filters are not modelled here'],
]);

function expandBackEndMacros(sql: string, ctx: MacroContext): string {
  const token = /\$__(\w+)/g;
  let out = '';
  let last = 0;
  for (let m = token.exec(sql); m; m = token.exec(sql)) {
    const at = m.index;
    const name = m[1] as string;
    const macro = BACK_END_MACROS.get(name);
    if (!macro) {
      const reason = REFUSED.get(name);
      if (reason) throw new MacroError(`$__${name} is not supported, ${where(sql, at)}: ${reason}`);
      throw new MacroError(`unknown macro $__${name}, ${where(sql, at)}; the plugin's macros are ${[...BACK_END_MACROS.keys(), 'conditionalAll'].map((k) => `$__${k}`).join(', ')}, and Grafana's ${[...GLOBALS.keys()].map((g) => `$${g}`).join(', ')}`);
    }
    let end = token.lastIndex;
    let args: string[] = [];
    if (sql[end] === '(') {
      const call = callArguments(sql, end, `$__${name}`);
      // Trimmed as macropro does; "()" is no argument at all.
      args = call.args.length === 1 && call.args[0]?.trim() === '' ? [] : call.args.map((a) => expandBackEndMacros(a.trim(), ctx));
      end = call.end;
    } else if (macro.params.length > 0) {
      throw new MacroError(`$__${name} needs its ${macro.params.join(' and ')} in parentheses right after its name, ${where(sql, at)}`);
    }
    if (args.length !== macro.params.length || args.includes('')) {
      const takes = macro.params.length === 0 ? 'no arguments' : `${macro.params.length} argument${macro.params.length > 1 ? 's' : ''} (${macro.params.join(', ')})`;
      throw new MacroError(`$__${name} takes ${takes}, got ${describeArgs(args)}, ${where(sql, at)}`);
    }
    out += sql.slice(last, at) + macro.expand(args, ctx);
    last = end;
    token.lastIndex = end;
  }
  return out + sql.slice(last);
}

// --- Reading SQL ------------------------------------------------------------------------

const CLOSER: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

/**
 * The arguments, as written, of the call whose "(" is at `open`, split at its top-level
 * commas, and the index just past its ")".
 */
function callArguments(sql: string, open: number, macro: string): { args: string[]; end: number } {
  const expected: string[] = [];
  const args: string[] = [];
  let start = open + 1;
  for (let i = open; i < sql.length; ) {
    const past = pastLiteral(sql, i);
    if (past > i) {
      i = past;
      continue;
    }
    const ch = sql[i] as string;
    const closer = CLOSER[ch];
    if (closer) {
      expected.push(closer);
    } else if (ch === ')' || ch === ']' || ch === '}') {
      const want = expected.pop();
      if (ch !== want) throw new MacroError(`mismatched "${ch}" in the arguments of ${macro}, where "${want}" was expected, ${where(sql, i)}`);
      if (expected.length === 0) {
        args.push(sql.slice(start, i));
        return { args, end: i + 1 };
      }
    } else if (ch === ',' && expected.length === 1) {
      args.push(sql.slice(start, i));
      start = i + 1;
    }
    i++;
  }
  throw new MacroError(`unbalanced parentheses: the "(" of ${macro} is never closed, ${where(sql, open)}`);
}

/** The index just past the string literal, quoted identifier or comment starting at `i`; `i` if none does. */
function pastLiteral(sql: string, i: number): number {
  const quote = sql[i];
  if (quote === "'" || quote === '"' || quote === '`') {
    for (let j = i + 1; j < sql.length; j++) {
      if (sql[j] === '\\') j++;
      else if (sql[j] === quote) {
        if (sql[j + 1] !== quote) return j + 1;
        j++;
      }
    }
    throw new MacroError(`unterminated ${quote} quote, ${where(sql, i)}`);
  }
  if (sql.startsWith('--', i)) {
    const eol = sql.indexOf('\n', i);
    return eol < 0 ? sql.length : eol;
  }
  if (sql.startsWith('/*', i)) {
    const close = sql.indexOf('*/', i + 2);
    if (close < 0) throw new MacroError(`unterminated /* comment, ${where(sql, i)}`);
    return close + 2;
  }
  return i;
}

/** Index of the last `token` at or before `from` that is the whole name (not the start of a longer one); -1 if none. */
function lastToken(sql: string, token: string, from: number): number {
  for (let at = sql.lastIndexOf(token, from); at >= 0; at = sql.lastIndexOf(token, at - 1)) {
    if (!/\w/.test(sql[at + token.length] ?? '')) return at;
    if (at === 0) break;
  }
  return -1;
}

/** "at line L, column C: "…snippet…"" for an index into `sql`. */
function where(sql: string, at: number): string {
  const before = sql.slice(0, at);
  const line = before.split('\n').length;
  const column = at - before.lastIndexOf('\n');
  const snippet = (at > 20 ? '…' : '') + sql.slice(Math.max(0, at - 20), at + 50) + (at + 50 < sql.length ? '…' : '');
  return `at line ${line}, column ${column}: ${JSON.stringify(snippet)}`;
}

function describeArgs(args: string[]): string {
  return args.length === 0 ? 'none' : `${args.length} (${args.map((a) => JSON.stringify(a.trim())).join(', ')})`;
}

// --- The context ------------------------------------------------------------------------

function checkContext(ctx: MacroContext): void {
  const { from, to, intervalMs } = ctx;
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) throw new MacroError(`the time range has an invalid date: from ${from}, to ${to}`);
  if (from.getTime() > to.getTime()) throw new MacroError(`the time range runs backwards: from ${from.toISOString()} to ${to.toISOString()}`);
  if (!Number.isInteger(intervalMs) || intervalMs < 1) throw new MacroError(`intervalMs must be a positive whole number of milliseconds, as Grafana's is; got ${intervalMs}`);
}

/** The variable `name`, checked; `usedBy` says where it is used, for the error. */
function lookUp(ctx: MacroContext, name: string, usedBy: string): VariableValue {
  if (!Object.hasOwn(ctx.variables, name)) {
    const known = Object.keys(ctx.variables).map((k) => `$${k}`).join(', ') || 'none';
    throw new MacroError(`variable $${name} is not defined (used by ${usedBy}); defined: ${known}. Add it to MacroContext.variables.`);
  }
  const v = ctx.variables[name] as VariableValue;
  if (v.selected === 'All') return v;
  if (v.selected.length === 0) throw new MacroError(`variable $${name} has nothing selected: select values or 'All'`);
  if (v.multi === false && v.selected.length > 1) throw new MacroError(`variable $${name} is single-value (multi: false) but has ${v.selected.length} values selected`);
  const stray = v.selected.filter((s) => !v.options.includes(s));
  if (stray.length > 0) throw new MacroError(`variable $${name}: ${stray.map((s) => JSON.stringify(s)).join(', ')} not among its options (${v.options.map((o) => JSON.stringify(o)).join(', ')})`);
  return v;
}

function unique(names: string[]): string[] {
  return [...new Set(names)];
}
