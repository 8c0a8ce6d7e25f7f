/**
 * An error the way a ClickHouse server writes it over HTTP, which @clickhouse/client
 * parses into a ClickHouseError (code, type, message): the store server's own refusals
 * read like the engine's, so tools that handle one handle both.
 */
export class ClickHouseHttpError extends Error {
  constructor(
    readonly code: number,
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }

  get text(): string {
    return `Code: ${this.code}. DB::Exception: ${this.message.replace(/\.$/, '')}. (${this.type})\n`;
  }
}

/** A ClickHouse string literal; `SET` parses it the way the HTTP server parses a URL parameter's text. */
export function literal(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\0/g, '\\0')}'`;
}
