import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sharedFile } from '../helpers.ts';
import { canonicalForm, fingerprintBytes, fingerprintSigned } from '../../schemas/fingerprint.ts';

/** Avro's own vectors (share/test/data/schema-tests.txt), parsed: `<<KEY value` or a `<<KEY` ... `KEY` block. */
function readVectors(): { input: string; canonical: string; fingerprint?: bigint }[] {
  const lines = readFileSync(sharedFile('avro-test-vectors/schema-tests.txt'), 'utf8').split('\n');
  const cases: Record<string, string>[] = [];
  let current: Record<string, string> | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (/^\/\/ \d{3}$/.test(line)) cases.push((current = {}));
    if (!current || !line.startsWith('<<')) continue;
    const m = /^<<(\w+)(?: (.*))?$/.exec(line);
    if (!m) continue;
    const key = m[1] as string;
    if (m[2] !== undefined) current[key] = m[2];
    else {
      const block: string[] = [];
      while (lines[++i] !== key) block.push(lines[i] as string);
      current[key] = block.join('\n');
    }
  }
  return cases.map((c) => ({
    input: c.INPUT as string,
    canonical: c.canonical as string,
    fingerprint: c.fingerprint === undefined ? undefined : BigInt(c.fingerprint),
  }));
}

describe('Avro parsing canonical form and CRC-64-AVRO', () => {
  const vectors = readVectors();

  it('reads every vector in the file', () => {
    // The file numbers its cases 000..033.
    expect(vectors.length).toBe(34);
  });

  it.each(vectors.map((v, i) => [i, v] as const))('vector %i matches', (_i, v) => {
    expect(canonicalForm(v.input)).toBe(v.canonical);
    if (v.fingerprint !== undefined) expect(fingerprintSigned(v.input)).toBe(v.fingerprint);
  });

  it('writes the fingerprint little-endian, as single-object encoding requires', () => {
    // "null" has fingerprint 7195948357588979594 = 0x63dd24e7cc258f8a per the vectors.
    expect(fingerprintBytes('"null"').toString('hex')).toBe('8a8f25cce724dd63');
  });
});
