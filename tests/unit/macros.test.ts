/**
 * The expander of the ClickHouse plugin's macros and Grafana's variables, against
 * hand-written expansions. Epoch seconds in the comments:
 *   2026-01-02T03:04:05.678Z = 1767323045.678 s (2026-01-01 is day 20454 since 1970:
 *   20454 * 86400 = 1767225600; + 1 day + 3:04:05 = 86400 + 11045 -> 1767323045)
 *   2026-01-02T06:04:05.000Z = 1767323045 + 3 * 3600 = 1767333845
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandMacros, MacroError, parseCall, referencedVariables, type MacroContext } from '../../dashboards/macros.ts';

const ctx = (variables: MacroContext['variables'] = {}, intervalMs = 60_000): MacroContext => ({
  from: new Date('2026-01-02T03:04:05.678Z'),
  to: new Date('2026-01-02T06:04:05.000Z'),
  intervalMs,
  variables,
});

const channel = (selected: 'All' | string[]) => ({ channel: { options: ['WEB', 'APP', 'CHAT'], selected } });

describe('time macros', () => {
  it('expands $__timeFilter to whole seconds, floored, inclusive at both ends', () => {
    expect(expandMacros('WHERE $__timeFilter(minute)', ctx())).toBe('WHERE minute >= toDateTime(1767323045) AND minute <= toDateTime(1767333845)');
  });

  it('expands $__timeFilter_ms to milliseconds, and is not confused with $__timeFilter', () => {
    expect(expandMacros('$__timeFilter_ms(ts)', ctx())).toBe('ts >= fromUnixTimestamp64Milli(1767323045678) AND ts <= fromUnixTimestamp64Milli(1767333845000)');
  });

  it('expands $__dateFilter and $__dateTimeFilter', () => {
    expect(expandMacros('$__dateFilter(d)', ctx())).toBe("d >= toDate('2026-01-02') AND d <= toDate('2026-01-02')");
    expect(expandMacros('$__dateTimeFilter(d, t)', ctx())).toBe(
      "(d >= toDate('2026-01-02') AND d <= toDate('2026-01-02')) AND (t >= toDateTime(1767323045) AND t <= toDateTime(1767333845))",
    );
  });

  it('expands $__fromTime, $__toTime and their _ms forms', () => {
    expect(expandMacros('$__fromTime $__toTime $__fromTime_ms $__toTime_ms', ctx())).toBe(
      'toDateTime(1767323045) toDateTime(1767333845) fromUnixTimestamp64Milli(1767323045678) fromUnixTimestamp64Milli(1767333845000)',
    );
  });

  it('expands $__timeInterval, $__timeInterval_ms and $__interval_s from the interval, at least 1', () => {
    // 90 s interval: 90 seconds, 90000 ms
    expect(expandMacros('$__timeInterval(minute) / $__interval_s', ctx({}, 90_000))).toBe('toStartOfInterval(toDateTime(minute), INTERVAL 90 second) / 90');
    expect(expandMacros('$__timeInterval_ms(ts)', ctx({}, 90_000))).toBe('toStartOfInterval(toDateTime64(ts, 3), INTERVAL 90000 millisecond)');
    // 200 ms: 0.2 s floors to 0, and the plugin never asks for an interval of 0
    expect(expandMacros('$__interval_s', ctx({}, 200))).toBe('1');
  });

  it("expands Grafana's globals $__interval, $__interval_ms, $__from, $__to, $__range_s", () => {
    expect(expandMacros('$__interval $__interval_ms $__from $__to $__range_s', ctx({}, 300_000))).toBe('5m 300000 1767323045678 1767333845000 10799');
  });

  it("reads backslash-escaped and doubled quotes inside a string argument as ClickHouse does", () => {
    // f('\')') is f applied to the one-character string ')'; so is f(''')').
    expect(expandMacros("$__timeInterval(f('\\')'))", ctx())).toBe("toStartOfInterval(toDateTime(f('\\')')), INTERVAL 60 second)");
    expect(expandMacros("$__timeInterval(f(''')'))", ctx())).toBe("toStartOfInterval(toDateTime(f(''')')), INTERVAL 60 second)");
  });

  it('keeps nested parentheses and quotes inside a macro argument', () => {
    expect(expandMacros("$__timeFilter(toDateTime(coalesce(a, b), 'UTC'))", ctx())).toBe(
      "toDateTime(coalesce(a, b), 'UTC') >= toDateTime(1767323045) AND toDateTime(coalesce(a, b), 'UTC') <= toDateTime(1767333845)",
    );
  });
});

describe('$__conditionalAll', () => {
  const sql = "WHERE $__conditionalAll(channel IN (${channel:singlequote}), $channel) AND x = ')'";

  it('is 1=1 when the variable is "All"', () => {
    expect(expandMacros(sql, ctx(channel('All')))).toBe("WHERE 1=1 AND x = ')'");
  });

  it('is the condition, with the variable interpolated, for one value or several', () => {
    expect(expandMacros(sql, ctx(channel(['WEB'])))).toBe("WHERE channel IN ('WEB') AND x = ')'");
    expect(expandMacros(sql, ctx(channel(['WEB', 'CHAT'])))).toBe("WHERE channel IN ('WEB','CHAT') AND x = ')'");
  });

  it('splits its arguments at the top level only: commas in calls, arrays and strings stay', () => {
    const arr = "$__conditionalAll(hasAny(channels, [${channel:singlequote}]) AND note != 'a, b)', ${channel})";
    expect(expandMacros(arr, ctx(channel(['APP'])))).toBe("hasAny(channels, ['APP']) AND note != 'a, b)'");
  });

  it('needs a variable as its second argument, and two arguments', () => {
    expect(() => expandMacros('$__conditionalAll(x = 1, channel)', ctx(channel('All')))).toThrow(/second argument must be a variable/);
    expect(() => expandMacros('$__conditionalAll(x = 1)', ctx(channel('All')))).toThrow(/takes 2 arguments/);
  });
});

describe('template variables', () => {
  const v = (selected: 'All' | string[], options = ["O'Brien", 'b'], allValue?: string) => ({ who: { options, selected, allValue } });

  it('formats as Grafana does: singlequote, sqlstring, doublequote, csv, raw, pipe', () => {
    const c = ctx(v('All'));
    expect(expandMacros('${who:singlequote}', c)).toBe("'O\\'Brien','b'");
    expect(expandMacros('${who:sqlstring}', c)).toBe("'O''Brien','b'");
    expect(expandMacros('${who:doublequote}', c)).toBe('"O\'Brien","b"');
    expect(expandMacros('${who:csv}', c)).toBe("O'Brien,b");
    expect(expandMacros('${who:raw}', c)).toBe("O'Brien,b");
    expect(expandMacros('${who:pipe}', c)).toBe("O'Brien|b");
  });

  it('without a format: a list quoted by the ClickHouse datasource, one value bare; $x, ${x} and [[x]] alike', () => {
    expect(expandMacros('$who|${who}|[[who]]', ctx(v(['a', 'b'])))).toBe("'a','b'|'a','b'|'a','b'");
    expect(expandMacros('$who|${who}|[[who]]', ctx(v(['a'])))).toBe('a|a|a');
  });

  it('leaves [[x]] alone when no variable is called x: it is an array of arrays to ClickHouse', () => {
    expect(expandMacros('SELECT [[0]], [[a]], [[who]]', ctx(v(['z'])))).toBe('SELECT [[0]], [[a]], z');
  });

  it('uses a custom "All" value as it is', () => {
    expect(expandMacros("x LIKE '${who}'", ctx(v('All', ['a'], '%')))).toBe("x LIKE '%'");
  });

  it('names an undefined variable and the known ones; refuses an empty selection and unknown formats', () => {
    expect(() => expandMacros('$nope', ctx(v('All')))).toThrow(/\$nope .*not defined; known: \$who/);
    expect(() => expandMacros('$who', ctx(v([])))).toThrow(/nothing selected/);
    expect(() => expandMacros('${who:json}', ctx(v('All')))).toThrow(/format ":json" is not supported/);
  });

  it('lists the variables a query refers to, without Grafana\'s own', () => {
    expect(referencedVariables('$a ${b:csv} [[c]] $__timeFilter(x) $__interval $a').sort()).toEqual(['a', 'b', 'c']);
  });
});

describe('errors', () => {
  it('refuses unbalanced parentheses and unterminated quotes, saying where', () => {
    expect(() => expandMacros('WHERE $__timeFilter(toDateTime(x)', ctx())).toThrow(MacroError);
    expect(() => expandMacros('WHERE $__timeFilter(toDateTime(x)', ctx())).toThrow(/never closed.*toDateTime/);
    expect(() => expandMacros("WHERE $__timeFilter(f(')'))", ctx())).not.toThrow();
    expect(() => expandMacros("WHERE $__timeFilter(f('))", ctx())).toThrow(/unterminated ' quote/);
  });

  it('refuses a wrong number of arguments, a macro without parentheses, and unknown macros', () => {
    expect(() => expandMacros('$__timeFilter(a, b)', ctx())).toThrow(/\$__timeFilter takes 1 argument, got 2/);
    expect(() => expandMacros('$__timeFilter()', ctx())).toThrow(/takes 1 argument, got 0/);
    expect(() => expandMacros('$__timeFilter minute', ctx())).toThrow(/needs its arguments in parentheses/);
    expect(() => expandMacros('$__timeFilterx(minute)', ctx())).toThrow(/unknown macro or variable \$__timeFilterx/);
  });

  it('refuses a backwards range', () => {
    expect(() => expandMacros('1', { ...ctx(), from: new Date('2026-01-02T00:00:00Z'), to: new Date('2026-01-01T00:00:00Z') })).toThrow(/run forwards/);
  });
});

describe('properties', () => {
  // Argument text: identifiers, nested calls, arrays and string literals holding , ( ) ' and "
  const literal = fc.stringMatching(/^[a-z ,()\]["]{0,8}$/).map((s) => `'${s.replace(/'/g, "''")}'`);
  const leaf = fc.oneof(fc.stringMatching(/^[a-z_][a-z0-9_]{0,6}$/), literal, fc.integer({ min: 0, max: 999 }).map(String));
  const expr: fc.Arbitrary<string> = fc.letrec((tie) => ({
    e: fc.oneof(
      { depthSize: 'small' },
      leaf,
      fc.tuple(fc.stringMatching(/^[a-z]{1,5}$/), fc.array(tie('e') as fc.Arbitrary<string>, { minLength: 1, maxLength: 3 })).map(([f, args]) => `${f}(${args.join(', ')})`),
      fc.array(tie('e') as fc.Arbitrary<string>, { minLength: 1, maxLength: 3 }).map((xs) => `[${xs.join(', ')}]`),
    ),
  })).e;

  it('passes any argument through verbatim, however nested or quoted', () => {
    fc.assert(
      fc.property(expr, (arg) => {
        expect(expandMacros(`$__timeInterval(${arg})`, ctx())).toBe(`toStartOfInterval(toDateTime(${arg}), INTERVAL 60 second)`);
        expect(parseCall(`(${arg}, ${arg})`, 0).args).toEqual([arg, arg]);
      }),
      { numRuns: 300 },
    );
  });

  it('leaves expanded SQL unchanged when expanded again', () => {
    fc.assert(
      fc.property(expr, fc.constantFrom<'All' | string[]>('All', ['WEB'], ['WEB', 'APP']), (arg, selected) => {
        const once = expandMacros(`SELECT ${arg} WHERE $__timeFilter(t) AND $__conditionalAll(c IN (\${channel:singlequote}), $channel)`, ctx(channel(selected)));
        expect(expandMacros(once, ctx(channel(selected)))).toBe(once);
      }),
      { numRuns: 200 },
    );
  });
});
