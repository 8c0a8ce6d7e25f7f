/** Parsers for command-line option values: a clear message when a value is wrong. */
import { InvalidArgumentError } from 'commander';

export function numberOption(min: number, whole = false) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || (whole && !Number.isInteger(n))) throw new InvalidArgumentError(`expected a ${whole ? 'whole ' : ''}number, at least ${min}`);
    return n;
  };
}

/** 0 (never) or a whole number from 2 up. */
export function badEveryOption(value: string): number {
  const n = Number(value);
  if (n === 0 || (Number.isInteger(n) && n >= 2)) return n;
  throw new InvalidArgumentError('expected 0 (never) or a whole number, at least 2');
}
