/**
 * What the read-only SQL endpoint lets a query touch: the project's database, a few
 * `system` tables, and table functions that compute rows from their arguments. Nothing
 * that reads files, URLs, other servers, dictionaries or the process.
 *
 * The engine decides what the query is, not a regex: each query is parsed by the
 * engine itself on a scratch connection (readonly = 1, so even the check cannot
 * write), and its syntax tree is walked against allow-lists:
 *
 * 1. `formatQuerySingleLine` parses the text as exactly one statement (a second one is
 *    a syntax error) and prints it normalized: no comments, every name in backquotes
 *    when it needs quoting, every string in single quotes.
 * 2. That normalized text is scanned, name by name: a name that is a function reading
 *    outside (file, dictGet..., aiGenerate...) is refused wherever it stands, even where
 *    the tree below does not print it (`* APPLY(file)`); so is `INTO OUTFILE`, and a
 *    quoted name with an escape in it (a line break in a name would forge lines of the
 *    tree dump below).
 * 3. `EXPLAIN AST` of the query (with its parameters substituted, as it will run) is
 *    rebuilt as a tree and every node's declared child count is checked. Every node
 *    must be of a kind on NODE_KINDS, whose content the dump shows whole; every table
 *    function on TABLE_FUNCTIONS (a table function's first argument is its source, and
 *    no allowed one has any); every table in the project's database or on
 *    SYSTEM_TABLES; and the statement a read (SELECT, EXPLAIN, DESCRIBE, SHOW TABLES /
 *    CREATE, EXISTS).
 *
 * Why it cannot be bypassed: case, comments, quoting, CTEs, subqueries, `view()`,
 * EXPLAIN or DESCRIBE wrappers are all gone or explicit in the engine's own parse, the
 * same parse the query then runs with; what is allowed is listed, so an unknown
 * construct, table function or database is refused rather than let through. The one
 * deny-list, scalar functions, was audited against `system.functions` of the engine
 * below (AUDITED_ENGINE; tests/integration/sqlEndpointSecurity.test.ts fails on another
 * engine version until it is audited again), and the engine's readonly = 1 is a second,
 * independent layer: it refuses every table function that needs source access (file,
 * url, s3, remote, mysql, executable...), changing settings in the query, and writes.
 */
import type { Session } from 'chdb';
import { ClickHouseHttpError, literal } from './httpError.ts';

/** The engine version whose `system.functions` the deny-list below was checked against. */
export const AUDITED_ENGINE = '26.7.2.1';

/** Table functions that compute their rows from their arguments (or, merge/view, from our own tables). */
const TABLE_FUNCTION_NAMES = ['numbers', 'numbers_mt', 'generateSeries', 'generate_series', 'primes', 'values', 'view', 'null', 'merge', 'generateRandom'];
// In lower case: a name differing only in case either is the same function or none.
const TABLE_FUNCTIONS = new Set(TABLE_FUNCTION_NAMES.map((n) => n.toLowerCase()));

/** What dashboards, `cx sql`'s `\dt`/`\d` and analysts use of `system`; it holds no data and no secrets. */
const SYSTEM_TABLES = new Set(['one', 'numbers', 'numbers_mt', 'tables', 'columns', 'parts', 'databases', 'functions', 'data_type_families']);

/**
 * Scalar functions that read outside the query's data: files (file), model files
 * (catboostEvaluate, naiveBayesClassifier*), dictionaries and their external sources
 * (dict*), tables named in a string, past the database check (joinGet, hasColumnInTable,
 * which also takes a remote host), HTTP to AI providers (ai*), Keeper
 * (generateSerialID), the server's disks, certificate, macros, settings, headers and
 * log (filesystem*, showCertificate, getMacro, getServerSetting, getClientHTTPHeader,
 * logTrace), and the process's own memory (introspection: addressTo*, demangle).
 */
const DENIED_FUNCTIONS = new Set([
  'file', 'catboostevaluate', 'naivebayesclassifier', 'naivebayesclassifierwithprob', 'naivebayesclassifierwithallprobs',
  'joinget', 'joingetornull', 'hascolumnintable', 'aigenerate', 'aiclassify', 'aiembed', 'aiextract', 'aitranslate',
  'generateserialid', 'filesystemavailable', 'filesystemcapacity', 'filesystemunreserved', 'showcertificate', 'getmacro',
  'getserversetting', 'getmergetreesetting', 'getclienthttpheader', 'logtrace', 'addresstoline', 'addresstolinewithinlines',
  'addresstosymbol', 'demangle', 'lemmatize', 'stem', 'synonyms',
]);
const deniedFunction = (lower: string) => DENIED_FUNCTIONS.has(lower) || /^dict(get|has|isin)/.test(lower);

/** Functions whose second argument may be a bare table name (`x IN db.table`). */
const IN_FUNCTIONS = /^(global)?(not)?(null)?in$/i;

/**
 * Node kinds of EXPLAIN AST whose whole content is in the dump: their name, alias and
 * children. (ColumnsApplyTransformer, for one, is not: `APPLY(f)` prints no `f`.)
 */
const NODE_KINDS = new Set([
  'SelectWithUnionQuery', 'SelectIntersectExceptQuery', 'SelectQuery', 'ExpressionList', 'Identifier', 'Literal', 'Function',
  'Asterisk', 'QualifiedAsterisk', 'ColumnsRegexpMatcher', 'ColumnsListMatcher', 'QualifiedColumnsRegexpMatcher', 'QualifiedColumnsListMatcher',
  'ColumnsTransformerList', 'ColumnsExceptTransformer', 'ColumnsReplaceTransformer', 'ColumnsReplaceTransformerReplacement',
  'TablesInSelectQuery', 'TablesInSelectQueryElement', 'TableExpression', 'TableIdentifier', 'TableJoin', 'ArrayJoin', 'Subquery',
  'WithElement', 'OrderByElement', 'InterpolateElement', 'WindowDefinition', 'WindowListElement', 'SampleRatio', 'DataType', 'NameTypePair',
  // A SETTINGS clause: the dump hides its values, but the engine checks them itself at
  // readonly = 1 (only the values already set, and the limits are set last).
  'Set',
  'Explain', 'DescribeQuery', 'ShowTables', 'ShowCreateTableQuery', 'ShowCreateViewQuery', 'ExistsTableQuery', 'ExistsViewQuery',
]);

const ALLOWED = 'Allowed: SELECT, WITH, EXPLAIN, DESCRIBE, SHOW TABLES, SHOW CREATE TABLE and EXISTS over tables of the database';

interface Node {
  kind: string;
  /** The rest of the line after the kind: name, alias, `(children N)`. */
  text: string;
  depth: number;
  declared: number;
  children: Node[];
  parent?: Node;
}

/** The dump's lines as a tree; a count that does not add up means a line was not the engine's own. */
function parseDump(dump: string): Node {
  const lines = dump.replace(/\n$/, '').split('\n');
  const root: Node = { kind: '(root)', text: '', depth: -1, declared: 1, children: [] };
  let last = root;
  for (const line of lines) {
    const m = /^( *)([A-Za-z]+)(.*)$/.exec(line);
    if (!m) throw unchecked(`an unexpected line in the engine's parse: ${JSON.stringify(line.slice(0, 80))}`);
    const depth = (m[1] as string).length;
    const text = m[3] as string;
    const declared = Number(/ \(children (\d+)\)$/.exec(text)?.[1] ?? 0);
    let parent: Node | undefined = last;
    while (parent && parent.depth >= depth) parent = parent.parent;
    if (!parent || depth !== parent.depth + 1) throw unchecked('the engine\'s parse is not a well-formed tree');
    const node: Node = { kind: m[2] as string, text: text.replace(/ \(children \d+\)$/, ''), depth, declared, children: [], parent };
    parent.children.push(node);
    last = node;
  }
  const verify = (n: Node) => {
    if (n.children.length !== n.declared) throw unchecked('the engine\'s parse does not add up (a name with a line break in it?)');
    n.children.forEach(verify);
  };
  verify(root);
  return root.children[0] as Node;
}

function unchecked(why: string): ClickHouseHttpError {
  return new ClickHouseHttpError(497, 'ACCESS_DENIED', `this read-only endpoint could not check the query: ${why}. Write names without line breaks or escape sequences`, 403);
}

const denied = (what: string) => new ClickHouseHttpError(497, 'ACCESS_DENIED', `this read-only endpoint reads the project's data only: ${what}`, 403);

/** A node's name: the text up to its alias, e.g. `cx.t` of `TableIdentifier cx.t (alias a)`. */
const nameOf = (n: Node) => n.text.trim().replace(/ \(alias [\s\S]*\)$/, '');

/**
 * The names in normalized SQL, outside string literals: bare words and quoted names
 * (quoted ones with `quoted`). formatQuerySingleLine writes strings in single quotes
 * and names in backquotes, each with backslash escapes. `escaped`: the name has a
 * control character, or an escape that may stand for one (`\n`, `\x0A`...).
 */
function* names(sql: string): Generator<{ name: string; quoted: boolean; escaped: boolean; at: number; depth: number }> {
  let i = 0;
  let depth = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (c === "'" || c === '`' || c === '"') {
      let j = i + 1;
      let escaped = false;
      while (j < sql.length && sql[j] !== c) {
        // A backslash or quote kept literally is fine (`from \\ to`); any other escape may be a line break.
        if (sql[j] === '\\') {
          if (!['\\', '`', "'", '"'].includes(sql[j + 1] ?? '')) escaped = true;
          j++;
        } else if (/[\u0000-\u001f\u007f]/.test(sql[j] as string)) escaped = true;
        j++;
      }
      if (c !== "'") yield { name: sql.slice(i + 1, j), quoted: true, escaped, at: i, depth };
      i = j + 1;
    } else if (/[A-Za-z_]/.test(c)) {
      const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i))?.[0] as string;
      yield { name: word, quoted: false, escaped: false, at: i, depth };
      i += word.length;
    } else i++;
  }
}

export interface Checked {
  /**
   * The query's own top-level SETTINGS list (`a = 1, b = 'x'`), for the server to SET
   * before readonly = 1: the engine then takes the clause as it stands (at readonly = 1
   * a SETTINGS clause may only restate current values), so analysts keep e.g.
   * `SETTINGS join_use_nulls = 1`, while the limits, SET after it, still win.
   */
  settings?: string;
}

export interface ReadOnlyGuard {
  /**
   * Throws a ClickHouseHttpError (164 READONLY or 497 ACCESS_DENIED, saying what is
   * allowed) unless `sql` reads only the project's data. `paramSetup` are the request's
   * `SET param_x = ...` statements, so the query is checked as it will run.
   */
  check(sql: string, paramSetup: string[]): Promise<Checked>;
}

export async function openReadOnlyGuard(openSession: () => Session, database: string): Promise<ReadOnlyGuard> {
  // Aliases resolve to what they name (hostname -> hostName); a case-insensitive
  // function may be written in any case, so names are compared in lower case.
  const aliases = new Map<string, string>();
  {
    const s = openSession();
    try {
      const rows = (await s.queryAsync('SELECT name, alias_to FROM system.functions', { format: 'JSONEachRow' })).text();
      for (const line of rows.split('\n').filter(Boolean)) {
        const { name, alias_to } = JSON.parse(line) as { name: string; alias_to: string };
        if (alias_to) aliases.set(name.toLowerCase(), alias_to.toLowerCase());
      }
    } finally {
      s.close();
    }
  }
  const isDeniedFunction = (name: string) => {
    const lower = name.toLowerCase();
    return deniedFunction(lower) || deniedFunction(aliases.get(lower) ?? lower);
  };

  const table = (qualified: string, where: string) => {
    const parts = qualified.split('.');
    if (parts.length === 1) return; // the current database, which this endpoint fixes to ours (or a CTE's name)
    const [db, name] = parts as [string, string];
    if (parts.length === 2 && db === database) return;
    if (parts.length === 2 && db.toLowerCase() === 'system' && SYSTEM_TABLES.has(name)) return;
    throw denied(
      `${where} ${qualified} is outside the database ${database}. Tables of ${database} are allowed, and of system only ${[...SYSTEM_TABLES].map((t) => `system.${t}`).join(', ')}`,
    );
  };

  const walk = (n: Node, statement: string) => {
    if (!NODE_KINDS.has(n.kind)) {
      const what = n.kind === 'ColumnsApplyTransformer' ? 'APPLY(...) column transformers' : `${n.kind.replace(/Query$/, '')} statements or clauses`;
      throw denied(`${what} are not accepted here. ${ALLOWED}; write functions out per column`);
    }
    const name = nameOf(n);
    if (n.kind === 'Function') {
      const parent = n.parent;
      if (isDeniedFunction(name)) throw denied(`the function ${name}() reads outside the query's data (files, URLs, dictionaries, the server). ${ALLOWED}, and functions that compute on values`);
      if (parent?.kind === 'TableExpression' && parent.children[0] === n) {
        if (!TABLE_FUNCTIONS.has(name.toLowerCase())) {
          throw denied(`the table function ${name}() reads from outside the database ${database}. Allowed table functions: ${TABLE_FUNCTION_NAMES.join(', ')}`);
        }
        if (name.toLowerCase() === 'merge') {
          const args = n.children[0]?.children ?? [];
          if (args.length > 1 && !(args[0]?.kind === 'Literal' && args[0].text.trim() === literal(database))) {
            throw denied(`merge() may read only the database ${database}: write merge('${database}', 'regexp') or merge('regexp')`);
          }
        }
      }
      if (IN_FUNCTIONS.test(name)) {
        const right = n.children[0]?.children[1];
        if (right?.kind === 'Identifier') table(nameOf(right), 'the table');
      }
    } else if (n.kind === 'TableIdentifier') {
      table(name, 'the table');
    } else if (/^(ShowCreate|Exists)/.test(n.kind)) {
      const ids = n.children.map(nameOf);
      if (ids.length === 2) table(`${ids[0]}.${ids[1]}`, 'the table');
    } else if (n.kind === 'ShowTables' && !/^(EXPLAIN [A-Z ]*)?SHOW (TABLES|DATABASES)\b/.test(statement)) {
      // One node kind for every SHOW over a system table (settings, clusters, merges, dictionaries...).
      throw denied(`${/^(EXPLAIN [A-Z ]*)?(SHOW [A-Z]+( (?!LIKE|ILIKE|FROM|IN|LIMIT)[A-Z]+)?)/.exec(statement)?.[2] ?? 'this SHOW'} is not accepted here. ${ALLOWED}`);
    } else if (n.kind === 'ShowTables') {
      for (const c of n.children) if (c.kind === 'Identifier' && nameOf(c) !== database && nameOf(c).toLowerCase() !== 'system') throw denied(`SHOW TABLES FROM ${nameOf(c)} lists another database than ${database}`);
    } else if (n.kind === 'Set') {
      // The engine checks a subquery's SETTINGS against readonly less strictly than the query's own.
      for (let a = n.parent; a; a = a.parent) {
        if (a.kind === 'Subquery' || a.kind === 'WithElement' || a.kind === 'TableExpression') {
          throw new ClickHouseHttpError(164, 'READONLY', 'SETTINGS inside a subquery are not accepted on this read-only endpoint: state them once, at the end of the query, or as URL parameters', 403);
        }
      }
    } else if (n.kind === 'Explain' && /OVERRIDE|TRANSACTION/.test(n.text)) {
      throw denied(`EXPLAIN${n.text.replace(/^ EXPLAIN/, '')} is not accepted here. ${ALLOWED}`);
    }
    for (const c of n.children) walk(c, statement);
  };

  return {
    async check(sql, paramSetup) {
      const session = openSession();
      try {
        // Parameters first, so the parse is the query as it runs.
        if (paramSetup.length) await session.queryAsync(paramSetup.join(';\n'));
        let formatted: string;
        try {
          formatted = (await session.queryAsync(`SELECT formatQuerySingleLine(${literal(sql)})`, { format: 'TabSeparatedRaw' })).text().replace(/\n$/, '');
        } catch (err) {
          const message = (err as Error).message ?? String(err);
          if (/Multi-statements are not allowed/.test(message)) {
            throw new ClickHouseHttpError(164, 'READONLY', 'this read-only endpoint runs one statement per request: send each statement on its own', 403);
          }
          // The engine's syntax error, without the wrapper this check put around the query.
          throw new ClickHouseHttpError(62, 'SYNTAX_ERROR', message.replace(/^Code: \d+\. DB::Exception: /, '').replace(/: In scope SELECT formatQuerySingleLine[\s\S]*$/, '').replace(/ \(SYNTAX_ERROR\)$/, ''));
        }
        const words = [...names(formatted)];
        for (const [i, w] of words.entries()) {
          if (w.escaped) throw unchecked(`the name ${JSON.stringify(w.name.slice(0, 40))} has an escape sequence in it`);
          if (isDeniedFunction(w.name)) throw denied(`${w.name} is a function that reads outside the query's data (files, URLs, dictionaries, the server); it is refused wherever it is named. ${ALLOWED}`);
          if (!w.quoted && w.name === 'INTO' && words[i + 1]?.name === 'OUTFILE' && !words[i + 1]?.quoted) {
            throw denied('INTO OUTFILE writes a file on the server. Results come back over HTTP only: drop INTO OUTFILE and save the answer on your side');
          }
        }
        // Identifier-typed parameters become names only at substitution: no line breaks there either.
        for (const m of formatted.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*):Identifier\}/g)) {
          const set = paramSetup.find((s) => s.startsWith(`SET param_${m[1]} = `));
          if (set && /\\[nrt0]|[\n\r]/.test(set)) throw unchecked(`the Identifier parameter ${m[1]} has a line break in it`);
        }
        // The outermost SETTINGS clause: the last one outside parentheses, up to a FORMAT.
        const at = [...words].reverse().find((w) => !w.quoted && w.depth === 0 && w.name === 'SETTINGS');
        let settings: string | undefined;
        if (at) {
          const format = words.find((w) => w.at > at.at && !w.quoted && w.depth === 0 && w.name === 'FORMAT');
          settings = formatted.slice(at.at + 'SETTINGS'.length, format?.at).trim() || undefined;
          // Only a clause of `name = value` pairs (SHOW SETTINGS LIKE ... is not one).
          if (settings && !/^[A-Za-z_][A-Za-z0-9_]* = /.test(settings)) settings = undefined;
        }
        // Then readonly = 1: nothing the check runs can write, change a setting or open a source.
        await session.queryAsync([...(settings ? [`SET ${settings}`] : []), 'SET readonly = 1'].join(';\n'));
        const dump = (await session.queryAsync(`EXPLAIN AST ${sql}`, { format: 'TabSeparatedRaw' })).text();
        const root = parseDump(dump);
        walk(root, formatted);
        return { settings };
      } finally {
        session.close();
      }
    },
  };
}
