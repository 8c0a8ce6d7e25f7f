/**
 * Every schema version ever published lives in schemas/ as `<family>.v<N>.avsc`.
 * The registry knows them all by fingerprint, writes with the newest version of a
 * family, and reads any version through Avro schema resolution into the newest.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { fingerprintBytes } from './fingerprint.ts';

export const SCHEMAS_DIR = fileURLToPath(new URL('.', import.meta.url));

/** Single-object encoding marker (Avro spec): C3 01, then 8 bytes of fingerprint, then the body. */
export const MAGIC = Buffer.from([0xc3, 0x01]);
const HEADER_BYTES = 10;

export interface SchemaVersion {
  /** Record name, e.g. TouchpointEvent. */
  family: string;
  version: number;
  file: string;
  schema: Record<string, unknown>;
  type: avro.Type;
  /** 8 bytes, little-endian CRC-64-AVRO of the canonical form. */
  fingerprint: Buffer;
}

export type Decoded =
  | { ok: true; family: string; version: number; value: Record<string, unknown> }
  | { ok: false; code: 'undecodable' | 'unknown_schema'; reason: string };

export class SchemaRegistry {
  private readonly byFingerprint = new Map<string, SchemaVersion>();
  private readonly newest = new Map<string, SchemaVersion>();
  private readonly resolvers = new Map<string, avro.Resolver>();

  constructor(readonly versions: SchemaVersion[]) {
    for (const v of versions) {
      const key = v.fingerprint.toString('hex');
      const clash = this.byFingerprint.get(key);
      if (clash) throw new Error(`${v.file} and ${clash.file} have the same canonical form; keep one`);
      this.byFingerprint.set(key, v);
      const current = this.newest.get(v.family);
      if (!current || current.version < v.version) this.newest.set(v.family, v);
    }
  }

  /** Loads every `*.vN.avsc` in the given folders (schemas/ by default). */
  static load(dirs: string[] = [SCHEMAS_DIR]): SchemaRegistry {
    const versions: SchemaVersion[] = [];
    for (const dir of dirs) {
      for (const name of readdirSync(dir).sort()) {
        const m = /\.v(\d+)\.avsc$/.exec(name);
        if (!m) continue;
        const file = join(dir, name);
        const text = readFileSync(file, 'utf8');
        const schema = JSON.parse(text) as Record<string, unknown>;
        versions.push({
          family: String(schema.name),
          version: Number(m[1]),
          file,
          schema,
          type: avro.Type.forSchema(schema as avro.Schema),
          fingerprint: fingerprintBytes(text),
        });
      }
    }
    return new SchemaRegistry(versions);
  }

  latest(family: string): SchemaVersion {
    const v = this.newest.get(family);
    if (!v) throw new Error(`no schema for ${family} in ${[...new Set(this.versions.map((x) => x.file))].join(', ')}`);
    return v;
  }

  /** Encodes with the newest version of the family (or the given one). Throws on a value the schema rejects. */
  encode(family: string, value: unknown, version?: number): Buffer {
    const writer = version === undefined ? this.latest(family) : this.versions.find((v) => v.family === family && v.version === version);
    if (!writer) throw new Error(`no schema ${family} v${version}`);
    const body = writer.type.toBuffer(value);
    return Buffer.concat([MAGIC, writer.fingerprint, body]);
  }

  /** Decodes a single-object message into the newest version of its family. Never throws. */
  decode(message: Buffer | null): Decoded {
    if (!message || message.length < HEADER_BYTES || message[0] !== 0xc3 || message[1] !== 0x01) {
      const head = message ? message.subarray(0, 4).toString('hex') || 'empty' : 'null';
      return {
        ok: false,
        code: 'undecodable',
        reason: `not Avro single-object encoding: expected marker c301 and 8 fingerprint bytes, got ${head} (${message?.length ?? 0} bytes)`,
      };
    }
    const fp = message.subarray(2, HEADER_BYTES).toString('hex');
    const writer = this.byFingerprint.get(fp);
    if (!writer) {
      return {
        ok: false,
        code: 'unknown_schema',
        reason: `unknown schema fingerprint ${fp}: no version in schemas/ has it (add the writer's .avsc there)`,
      };
    }
    const reader = this.latest(writer.family);
    try {
      const value = reader.type.fromBuffer(message.subarray(HEADER_BYTES), this.resolver(reader, writer)) as Record<string, unknown>;
      return { ok: true, family: writer.family, version: writer.version, value };
    } catch (err) {
      return {
        ok: false,
        code: 'undecodable',
        reason: `body does not decode as ${writer.family} v${writer.version}: ${(err as Error).message}`,
      };
    }
  }

  private resolver(reader: SchemaVersion, writer: SchemaVersion): avro.Resolver | undefined {
    if (reader === writer) return undefined;
    const key = `${reader.fingerprint.toString('hex')}<${writer.fingerprint.toString('hex')}`;
    let r = this.resolvers.get(key);
    if (!r) {
      r = reader.type.createResolver(writer.type);
      this.resolvers.set(key, r);
    }
    return r;
  }
}
