import pino from 'pino';
import { redactor, type Config } from './config.ts';

/**
 * JSON lines on stderr, so stdout stays for results (tables, status). Given the
 * configuration, every line is scrubbed of its secrets (config.ts `redactor`) before it
 * is written, whatever field or library message quotes them.
 */
export function createLogger(level: string, name = 'cx', config?: Partial<Config>): pino.Logger {
  const scrub = config ? redactor(config) : undefined;
  const destination = pino.destination({ dest: 2, sync: true });
  if (!scrub) return pino({ name, level, base: { pid: process.pid } }, destination);
  return pino({ name, level, base: { pid: process.pid } }, { write: (line: string) => destination.write(scrub(line)) });
}

export type Logger = pino.Logger;
