/**
 * The expander of the ClickHouse plugin's macros and Grafana's variables, against
 * expansions worked out by hand from the plugin's and Grafana's sources.
 *
 * The range used throughout, in epoch seconds:
 *   2026-01-01T00:00:00Z is day 20454 since 1970 (56 years of 365 days + 14 leap days),
 *   20454 * 86400 = 1767225600.
 *   from 2026-01-02T03:04:05.678Z = 1767225600 + 86400 + 3*3600 + 4*60 + 5 = 1767323045 s
 *        (+ .678: 1767323045678 ms; the plugin floors to 1767323045, Grafana's :date:seconds rounds to 1767323046)
 *   to   2026-01-02T06:04:05.000Z = 1767323045 + 3*3600 = 1767333845 s (1767333845000 ms)
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandMacros, MacroError, referencedMacros, referencedVariables, type MacroContext, type VariableValue } from '../../dashboards/macros.ts';

const FROM_S = 1767323045;
const TO_S = 1767333845;

const ctx = (variables: MacroContext['variables'] = {}, intervalMs = 60_000): MacroContext => ({
  from: new Date('2026-01-02T03:04:05.678Z'),
  to: new Date('2026-01-02T06:04:05.000Z'),
  intervalMs,
  variables,
});

const channel = (selected: VariableValue['selected'], extra: Partial<VariableValue> = {}) => ({ channel: { options: ['WEB', 'APP', 'CHAT'], selected, ...extra } });

/** The MacroError `run` throws (failing the test if it throws none, or something else). */
function macroError(run: () => unknown): MacroError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(MacroError);
    expect((err as Error).name).toBe('MacroError');
    return err as MacroError;
  }
  throw new Error('expected a MacroError, got none');
}

describe('time macros (pkg/macros/macros.go v4.20.0)', () => {
  it('$__timeFilter: whole seconds, floored, both ends inclusive', () => {
    expect(expandMacros('WHERE $__timeFilter(minute)', ctx())).toBe(`WHERE minute >= toDateTime(${FROM_S}) AND minute <= toDateTime(${TO_S})`);
  });

  it('$__timeFilter_ms: milliseconds, and never read as $__timeFilter followed by "_ms"', () => {
    expect(expandMacros('$__timeFilter_ms(ts)', ctx())).toBe('ts >= fromUnixTimestamp64Milli(1767323045678) AND ts <= fromUnixTimestamp64Milli(1767333845000)');
  });

  it('$__dateFilter: UTC dates of each end', () => {
    expect(expandMacros('$__dateFilter(d)', ctx())).toBe("d >= toDate('2026-01-02') AND d <= toDate('2026-01-02')");
    // A range across midnight: 2025-12-31T23:30Z to 2026-01-01T00:30Z.
    const overMidnight = { ...ctx(), from: new Date('2025-12-31T23:30:00.250Z'), to: new Date('2026-01-01T00:30:00Z') };
    expect(expandMacros('$__dateFilter(d)', overMidnight)).toBe("d >= toDate('2025-12-31') AND d <= toDate('2026-01-01')");
  });

  it('$__dateTimeFilter and its alias $__dt: a date filter and a time filter, each in parentheses', () => {
    const expected = `(d >= toDate('2026-01-02') AND d <= toDate('2026-01-02')) AND (t >= toDateTime(${FROM_S}) AND t <= toDateTime(${TO_S}))`;
    expect(expandMacros('$__dateTimeFilter(d, t)', ctx())).toBe(expected);
    expect(expandMacros('$__dt(d,t)', ctx())).toBe(expected);
  });

  it('$__fromTime, $__toTime and their _ms forms; "()" after one is no argument', () => {
    expect(expandMacros('$__fromTime $__toTime $__fromTime_ms $__toTime_ms $__toTime()', ctx())).toBe(
      `toDateTime(${FROM_S}) toDateTime(${TO_S}) fromUnixTimestamp64Milli(1767323045678) fromUnixTimestamp64Milli(1767333845000) toDateTime(${TO_S})`,
    );
  });

  it('$__timeInterval, $__timeInterval_ms and $__interval_s: whole seconds, floored, at least 1', () => {
    expect(expandMacros('$__timeInterval(minute), $__interval_s', ctx({}, 90_000))).toBe('toStartOfInterval(toDateTime(minute), INTERVAL 90 second), 90');
    expect(expandMacros('$__timeInterval_ms(ts)', ctx({}, 90_000))).toBe('toStartOfInterval(toDateTime64(ts, 3), INTERVAL 90000 millisecond)');
    // 1.5 s floors to 1 s; 0.2 s would be 0 s, and the plugin never asks for less than 1.
    expect(expandMacros('$__interval_s $__timeInterval(t)', ctx({}, 1500))).toBe('1 toStartOfInterval(toDateTime(t), INTERVAL 1 second)');
    expect(expandMacros('$__interval_s $__timeInterval_ms(t)', ctx({}, 200))).toBe('1 toStartOfInterval(toDateTime64(t, 3), INTERVAL 200 millisecond)');
  });

  it('expands a macro nested in another\'s argument first (the plugin\'s own test cases)', () => {
    expect(expandMacros('SELECT $__timeInterval($__fromTime) AS from_time', ctx())).toBe(
      `SELECT toStartOfInterval(toDateTime(toDateTime(${FROM_S})), INTERVAL 60 second) AS from_time`,
    );
    expect(expandMacros('$__timeFilter(coalesce(closed_at, $__toTime))', ctx())).toBe(
      `coalesce(closed_at, toDateTime(${TO_S})) >= toDateTime(${FROM_S}) AND coalesce(closed_at, toDateTime(${TO_S})) <= toDateTime(${TO_S})`,
    );
  });

  it('trims the arguments, and keeps nested calls, commas and quotes inside one', () => {
    expect(expandMacros("$__timeFilter(  toDateTime(ts, 'UTC')  )", ctx())).toBe(
      `toDateTime(ts, 'UTC') >= toDateTime(${FROM_S}) AND toDateTime(ts, 'UTC') <= toDateTime(${TO_S})`,
    );
  });

  it('reads string literals, quoted identifiers and comments as ClickHouse does', () => {
    const bucket = (arg: string) => `toStartOfInterval(toDateTime(${arg}), INTERVAL 60 second)`;
    // f('\')') and f(''')') are f of the one-character string ')'.
    for (const arg of ["f('\\')')", "f(''')')", "f('a, b) (')", 'f("x)", `y,(`)', 'f(`a``)`)', 'f(a /* ), */, b -- )\n)']) {
      expect(expandMacros(`$__timeInterval(${arg})`, ctx())).toBe(bucket(arg));
    }
    // A top-level comma inside an array or map literal does not split the arguments either.
    expect(expandMacros("$__dt([1, 2][1], {'a': 1, 'b': 2}['a'])", ctx())).toContain("({'a': 1, 'b': 2}['a'] >= toDateTime(");
  });
});

describe("Grafana's global variables", () => {
  it('$__interval as Grafana writes it (largest unit, floored), $__interval_ms, $__from and $__to in epoch ms', () => {
    expect(expandMacros('$__interval $__interval_ms $__from $__to', ctx({}, 300_000))).toBe('5m 300000 1767323045678 1767333845000');
    // 90 s is written "1m" by Grafana's secondsToHms; 1.5 s "1s"; 200 ms "200ms"; a day "1d".
    expect(['${__interval}', '${__interval}', '${__interval}', '${__interval}'].map((s, i) => expandMacros(s, ctx({}, [90_000, 1500, 200, 86_400_000][i])))).toEqual(['1m', '1s', '200ms', '1d']);
  });

  it('formats $__from and $__to with :date, :date:iso, :date:ms and :date:seconds (rounded, unlike the macros)', () => {
    expect(expandMacros('${__from:date:seconds} ${__to:date} ${__from:date:iso} ${__to:date:ms}', ctx())).toBe(
      '1767323046 2026-01-02T06:04:05.000Z 2026-01-02T03:04:05.678Z 1767333845000',
    );
  });

  it('refuses $__range_s, which Grafana interpolates only for Prometheus and Loki, saying what to write', () => {
    expect(macroError(() => expandMacros('SELECT $__range_s', ctx())).message).toMatch(/\$__range_s is not supported.*Prometheus and Loki.*dateDiff/);
    expect(macroError(() => expandMacros('SELECT ${__range_s}', ctx())).message).toMatch(/\$\{__range_s\}.*no such global/);
  });
});

describe('$__conditionalAll (CHDatasource.ts applyConditionalAll)', () => {
  const sql = "WHERE $__conditionalAll(channel IN (${channel:singlequote}), $channel) AND note = ')'";

  it('is 1=1 when the variable is "All", with or without a custom all value', () => {
    expect(expandMacros(sql, ctx(channel('All')))).toBe("WHERE 1=1 AND note = ')'");
    expect(expandMacros(sql, ctx(channel('All', { allValue: '%' })))).toBe("WHERE 1=1 AND note = ')'");
  });

  it('is the condition, its variables interpolated, for one value or several', () => {
    expect(expandMacros(sql, ctx(channel(['WEB'])))).toBe("WHERE channel IN ('WEB') AND note = ')'");
    expect(expandMacros(sql, ctx(channel(['WEB', 'CHAT'])))).toBe("WHERE channel IN ('WEB','CHAT') AND note = ')'");
  });

  it('is 1=1 when the one selected value is "", as the plugin tests current.value == ""', () => {
    expect(expandMacros('$__conditionalAll(c = 1, $v)', ctx({ v: { options: ['', 'x'], selected: [''] } }))).toBe('1=1');
  });

  it('runs before interpolation: a dropped condition may name variables that are not defined', () => {
    expect(expandMacros('$__conditionalAll(x IN ($nowhere), $channel)', ctx(channel('All')))).toBe('1=1');
    expect(() => expandMacros('$__conditionalAll(x IN ($nowhere), $channel)', ctx(channel(['WEB'])))).toThrow(/\$nowhere is not defined/);
  });

  it('keeps the condition as written (spaces too), splitting only at top-level commas; ${var} works as the second argument', () => {
    const arr = "$__conditionalAll( hasAny(channels, [${channel:singlequote}]) AND note != 'a, b)' , ${channel} )";
    expect(expandMacros(arr, ctx(channel(['APP'])))).toBe(" hasAny(channels, ['APP']) AND note != 'a, b)' ");
  });

  it('expands nested calls, the inner one first, as the plugin does (last call first)', () => {
    const nested = '$__conditionalAll(a IN ($channel) AND $__conditionalAll(b IN ($leg), $leg), $channel)';
    const leg = { leg: { options: ['PRODUCT', 'SALES'], selected: 'All' as const } };
    expect(expandMacros(nested, ctx({ ...channel(['WEB']), ...leg }))).toBe("a IN ('WEB') AND 1=1");
    expect(expandMacros(nested, ctx({ ...channel('All'), ...leg }))).toBe('1=1');
  });

  it('refuses a wrong number of arguments, a second argument that is no variable, and a space before "("', () => {
    expect(macroError(() => expandMacros('$__conditionalAll(x = 1)', ctx(channel('All')))).message).toMatch(/takes 2 arguments .*got 1 \("x = 1"\)/);
    expect(macroError(() => expandMacros('$__conditionalAll(x = 1, $channel, 3)', ctx(channel('All')))).message).toMatch(/takes 2 arguments .*got 3/);
    expect(macroError(() => expandMacros('$__conditionalAll(x = 1, channel)', ctx(channel('All')))).message).toMatch(/second argument must be a variable .*"channel"/);
    expect(macroError(() => expandMacros('$__conditionalAll (x = 1, $channel)', ctx(channel('All')))).message).toMatch(/needs "\(" right after its name/);
    expect(macroError(() => expandMacros('$__conditionalAll(x = 1, $nope)', ctx(channel('All')))).message).toMatch(/\$nope is not defined.*defined: \$channel/);
  });
});

describe('template variables', () => {
  const who = (selected: VariableValue['selected'], extra: Partial<VariableValue> = {}) => ({
    who: { options: ["O'Brien", 'say "hi"', 'b'], selected, ...extra },
  });

  it('formats as Grafana does: singlequote, sqlstring, doublequote, csv, raw, pipe, glob', () => {
    const c = ctx(who('All'));
    expect(expandMacros('${who:singlequote}', c)).toBe(`'O\\'Brien','say "hi"','b'`);
    expect(expandMacros('${who:sqlstring}', c)).toBe(`'O''Brien','say \\"hi\\"','b'`);
    expect(expandMacros('${who:doublequote}', c)).toBe(`"O'Brien","say \\"hi\\"","b"`);
    expect(expandMacros('${who:csv}', c)).toBe(`O'Brien,say "hi",b`);
    expect(expandMacros('${who:raw}', c)).toBe(`O'Brien,say "hi",b`);
    expect(expandMacros('${who:pipe}', c)).toBe(`O'Brien|say "hi"|b`);
    expect(expandMacros('${who:glob}', c)).toBe(`{O'Brien,say "hi",b}`);
    expect(expandMacros('[[who:csv]]', c)).toBe(`O'Brien,say "hi",b`);
    // Grafana escapes the quote only, never a backslash: C:\temp stays C:\temp inside the quotes.
    const path = ctx({ p: { options: ['C:\\temp'], selected: ['C:\\temp'] } });
    expect(expandMacros('${p:singlequote} ${p:sqlstring}', path)).toBe("'C:\\temp' 'C:\\temp'");
  });

  it("without a format, the datasource's own: a list quoted (without escaping), even of one value; $x, ${x} and [[x]] alike", () => {
    expect(expandMacros('$who|${who}|[[who]]', ctx(who(['b', "O'Brien"])))).toBe("'b','O'Brien'|'b','O'Brien'|'b','O'Brien'");
    expect(expandMacros('$who|${who}|[[who]]', ctx(who(['b'])))).toBe("'b'|'b'|'b'");
  });

  it('a single-value variable (multi: false) is one bare value, quoted only by a format; its "All" is still the list', () => {
    expect(expandMacros('$who ${who:singlequote} ${who:glob}', ctx(who(['b'], { multi: false })))).toBe("b 'b' b");
    expect(expandMacros('$who', ctx(who('All', { multi: false })))).toBe(`'O'Brien','say "hi"','b'`);
  });

  it('"All" is every option; a custom all value goes in as it is, whatever the format; "" is no custom value', () => {
    expect(expandMacros('$who', ctx(who('All')))).toBe(`'O'Brien','say "hi"','b'`);
    expect(expandMacros("x LIKE '${who}' OR y LIKE ${who:singlequote}", ctx(who('All', { allValue: '%' })))).toBe("x LIKE '%' OR y LIKE %");
    expect(expandMacros('${who:csv}', ctx(who('All', { allValue: '' })))).toBe(`O'Brien,say "hi",b`);
  });

  it('reads $name greedily, as Grafana does: $who_x is another variable', () => {
    expect(macroError(() => expandMacros('$who_x', ctx(who('All')))).message).toMatch(/\$who_x is not defined.*defined: \$who/);
    expect(expandMacros('${who}_x', ctx(who(['b'])))).toBe("'b'_x");
  });

  it('leaves [[x]] alone when no variable is called x: it is an array of arrays to ClickHouse', () => {
    expect(expandMacros('SELECT [[0]], [[a]], [[__]], [[who]]', ctx(who(['b'], { multi: false })))).toBe('SELECT [[0]], [[a]], [[__]], b');
  });

  it('names an undefined variable and the defined ones', () => {
    const err = macroError(() => expandMacros('SELECT 1\nWHERE x = $nope', ctx({ ...who('All'), ...channel('All') })));
    expect(err.message).toMatch(/variable \$nope is not defined \(used by \$nope at line 2, column 11.*\); defined: \$who, \$channel/);
    expect(macroError(() => expandMacros('$nope', ctx())).message).toMatch(/defined: none/);
  });

  it('refuses an empty selection, a value not offered, two values for a single-value variable', () => {
    expect(macroError(() => expandMacros('$who', ctx(who([])))).message).toMatch(/\$who has nothing selected/);
    expect(macroError(() => expandMacros('$who', ctx(who(['web'])))).message).toMatch(/"web" not among its options \("O'Brien", "say \\"hi\\"", "b"\)/);
    expect(macroError(() => expandMacros('$who', ctx(who(['b', "O'Brien"], { multi: false })))).message).toMatch(/single-value .* 2 values selected/);
  });

  it('refuses an unknown format and unsupported syntax', () => {
    expect(macroError(() => expandMacros('${who:json}', ctx(who('All')))).message).toMatch(/format ":json" is not supported/);
    expect(macroError(() => expandMacros('${who.key}', ctx(who('All')))).message).toMatch(/unsupported variable syntax \$\{who\.key\}/);
    expect(macroError(() => expandMacros('${who:date}', ctx(who('All')))).message).toMatch(/date format needs one epoch-ms value/);
  });

  it('lists the variables and the macros a query refers to', () => {
    const sql = '$a ${b:csv} [[c]] $__timeFilter(x) ${__from:date} $__interval $a $__conditionalAll(x, $d)';
    expect(referencedVariables(sql)).toEqual(['a', 'b', 'c', 'd']);
    expect(referencedMacros(sql)).toEqual(['$__timeFilter', '$__from', '$__interval', '$__conditionalAll']);
  });
});

describe('errors', () => {
  it('unbalanced or mismatched brackets, with where they are', () => {
    const unclosed = macroError(() => expandMacros('SELECT 1\nWHERE $__timeFilter(toDateTime(x)', ctx())).message;
    expect(unclosed).toMatch(/unbalanced parentheses: the "\(" of \$__timeFilter is never closed, at line 2, column 20: .*toDateTime\(x\)/);
    expect(macroError(() => expandMacros('$__timeFilter(f(a])', ctx())).message).toMatch(/mismatched "\]" in the arguments of \$__timeFilter, where "\)" was expected/);
  });

  it('unterminated quotes and comments in arguments', () => {
    expect(macroError(() => expandMacros("$__timeFilter(f('))", ctx())).message).toMatch(/unterminated ' quote, at line 1, column 17/);
    expect(macroError(() => expandMacros('$__timeFilter(f(/* x))', ctx())).message).toMatch(/unterminated \/\* comment/);
  });

  it('a wrong number of arguments, an empty one, arguments to a macro that takes none', () => {
    expect(macroError(() => expandMacros('$__timeFilter(a, b)', ctx())).message).toMatch(/\$__timeFilter takes 1 argument \(column\), got 2 \("a", "b"\)/);
    expect(macroError(() => expandMacros('$__timeFilter( )', ctx())).message).toMatch(/\$__timeFilter takes 1 argument \(column\), got none/);
    expect(macroError(() => expandMacros('$__dateTimeFilter(d, )', ctx())).message).toMatch(/takes 2 arguments \(date column, time column\), got 2 \("d", ""\)/);
    expect(macroError(() => expandMacros('$__fromTime(x)', ctx())).message).toMatch(/\$__fromTime takes no arguments, got 1/);
  });

  it('a macro without its parentheses, or with a space before them (the plugin reads that as no arguments)', () => {
    expect(macroError(() => expandMacros('WHERE $__timeFilter AND 1', ctx())).message).toMatch(/\$__timeFilter needs its column in parentheses right after its name, at line 1, column 7/);
    expect(macroError(() => expandMacros('WHERE $__timeFilter (t)', ctx())).message).toMatch(/needs its column in parentheses/);
  });

  it('an unknown macro, listing the known ones; macros whose SQL varies across 4.x, with what to write instead', () => {
    const unknown = macroError(() => expandMacros('WHERE $__timeFilterx(minute)', ctx())).message;
    expect(unknown).toMatch(/unknown macro \$__timeFilterx, at line 1, column 7.*\$__timeFilter, \$__timeFilter_ms, .*\$__conditionalAll.*\$__interval/);
    expect(macroError(() => expandMacros('$__timeGroup(t, 5m)', ctx())).message).toMatch(/\$__timeGroup is not supported.*datepart.*\$__timeInterval/);
    expect(macroError(() => expandMacros('$__timeFrom(t)', ctx())).message).toMatch(/col >= \$__fromTime/);
  });

  it('a time range that runs backwards, an interval that is not a positive whole number of ms', () => {
    const backwards = { ...ctx(), from: new Date('2026-01-02T00:00:00Z'), to: new Date('2026-01-01T00:00:00Z') };
    expect(macroError(() => expandMacros('1', backwards)).message).toMatch(/runs backwards/);
    expect(macroError(() => expandMacros('1', ctx({}, 0))).message).toMatch(/intervalMs must be a positive whole number.*got 0/);
    expect(macroError(() => expandMacros('1', ctx({}, 1.5))).message).toMatch(/got 1\.5/);
  });
});

describe('properties', () => {
  // Argument text as ClickHouse could hold it: identifiers, numbers, string literals and
  // quoted identifiers holding , ( ) [ ] ' " ` \ (each escaped either way ClickHouse allows),
  // nested in calls, arrays and tuples. No $, so nothing in it is a macro or variable.
  const content = fc.stringMatching(/^[a-z ,()[\]'"`\\]{0,8}$/);
  const quoted = (q: string) =>
    fc.tuple(content, fc.boolean()).map(([s, doubled]) => q + s.replace(/\\/g, '\\\\').replaceAll(q, doubled ? q + q : `\\${q}`) + q);
  const leaf = fc.oneof(fc.stringMatching(/^[a-z_][a-z0-9_]{0,6}$/), fc.nat(9999).map(String), quoted("'"), quoted('"'), quoted('`'));
  const list = (e: fc.Arbitrary<string>) => fc.array(e, { minLength: 1, maxLength: 3 }).map((xs) => xs.join(', '));
  const { expr } = fc.letrec<{ expr: string }>((tie) => ({
    expr: fc.oneof(
      { depthSize: 'small' },
      leaf,
      fc.tuple(fc.stringMatching(/^[a-z]{1,5}$/), list(tie('expr'))).map(([f, args]) => `${f}(${args})`),
      list(tie('expr')).map((xs) => `[${xs}]`),
      list(tie('expr')).map((xs) => `(${xs})`),
    ),
  }));
  const selection = fc.constantFrom<VariableValue['selected']>('All', ['WEB'], ['WEB', 'APP']);
  // A name no generated identifier (at most 7 characters) can take, so [[…]] in the text is never this variable.
  const variables = (selected: VariableValue['selected']) => ({ chosen_channel: { options: ['WEB', 'APP', 'CHAT'], selected } });

  it('passes any argument through verbatim, however nested or quoted', () => {
    fc.assert(
      fc.property(expr, expr, selection, (a, b, selected) => {
        const c = ctx(variables(selected));
        expect(expandMacros(`$__timeInterval(${a})`, c)).toBe(`toStartOfInterval(toDateTime(${a}), INTERVAL 60 second)`);
        expect(expandMacros(`$__dateTimeFilter(${a}, ${b})`, c)).toBe(
          `(${a} >= toDate('2026-01-02') AND ${a} <= toDate('2026-01-02')) AND (${b} >= toDateTime(${FROM_S}) AND ${b} <= toDateTime(${TO_S}))`,
        );
        expect(expandMacros(`$__conditionalAll(${a},$chosen_channel)`, c)).toBe(selected === 'All' ? '1=1' : a);
      }),
      { numRuns: 300 },
    );
  });

  it('leaves expanded SQL unchanged when expanded again', () => {
    fc.assert(
      fc.property(expr, selection, fc.constantFrom(1000, 60_000, 90_000), (a, selected, intervalMs) => {
        const c = ctx(variables(selected), intervalMs);
        const sql = `SELECT $__timeInterval(${a}) AS t, $__interval_s AS s, '$__interval' AS i FROM x WHERE $__timeFilter(t) AND $__conditionalAll(c IN (\${chosen_channel:singlequote}), $chosen_channel) AND d IN ($chosen_channel)`;
        const once = expandMacros(sql, c);
        expect(once).not.toMatch(/\$/);
        expect(expandMacros(once, c)).toBe(once);
      }),
      { numRuns: 200 },
    );
  });
});
