import pino from 'pino';

/** JSON lines on stderr, so stdout stays for results (tables, status). */
export function createLogger(level: string, name = 'cx'): pino.Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
}

export type Logger = pino.Logger;
