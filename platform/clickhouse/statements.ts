/**
 * Statements that only read (and return rows), after any leading comments and opening
 * parentheses. `cx sql` uses it to pick query vs command; the read-only store server
 * uses it to refuse writes with a clear message before the engine would.
 *
 * Each alternative consumes one unambiguous token (one whitespace character, a whole
 * comment ending at its first terminator, one parenthesis): with `\s+` or a lazy
 * `[\s\S]*?` comment, a long run of spaces or comments before a non-read took
 * exponential time to reject, which a server must not do for any request body.
 */
export const READS = /^(?:\s|--[^\n]*\n|\/\*(?:[^*]|\*(?!\/))*\*\/|\()*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS|VALUES)\b/i;
