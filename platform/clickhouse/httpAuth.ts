/**
 * The SQL endpoint's optional password, taken the three ways a ClickHouse server takes
 * it, so every ClickHouse tool can send it: HTTP basic auth (any user name: the
 * endpoint has one user), `X-ClickHouse-User`/`X-ClickHouse-Key` headers, or
 * `user`/`password` URL parameters.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ClickHouseHttpError } from './httpError.ts';

/** What a request offers as its password, or undefined when it offers none. */
function offered(headers: IncomingHttpHeaders, params: URLSearchParams): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^basic /i.test(auth)) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? '' : decoded.slice(colon + 1);
  }
  const key = headers['x-clickhouse-key'];
  if (typeof key === 'string') return key;
  return params.get('password') ?? undefined;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Returns a check that throws ClickHouse's 516 AUTHENTICATION_FAILED (HTTP 401) unless
 * the request carries `password`. Digests of equal length are compared in constant
 * time, so neither the password's content nor its length leaks through timing.
 */
export function passwordCheck(password: string): (headers: IncomingHttpHeaders, params: URLSearchParams) => void {
  const expected = digest(password);
  return (headers, params) => {
    const given = offered(headers, params);
    if (given !== undefined && timingSafeEqual(digest(given), expected)) return;
    throw new ClickHouseHttpError(
      516,
      'AUTHENTICATION_FAILED',
      `${given === undefined ? 'no password given' : 'wrong password'}: this endpoint requires CX_SQL_PASSWORD, as a ClickHouse server takes a password ` +
        '(HTTP basic auth with any user, X-ClickHouse-User/X-ClickHouse-Key headers, or user/password URL parameters). `npx cx sql` and `npx cx report` send it from CX_SQL_PASSWORD',
      401,
    );
  };
}
