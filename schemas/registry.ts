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

/**
 * Why bytes did not decode, one code per cause so an analyst can group dead letters by it:
 * - `null`: no value at all (a tombstone);
 * - `empty`: a value of zero bytes;
 * - `not_avro`: no single-object marker (JSON, text, another encoding...);
 * - `truncated`: the marker, but the header or the body ends early;
 * - `trailing_bytes`: a whole record, then more bytes;
 * - `malformed_body`: the body's bytes are not a record of the writer's schema (bad enum or union index, bad length);
 * - `unknown_schema`: a fingerprint no version in schemas/ has.
 */
export type DecodeFailure = 'null' | 'empty' | 'not_avro' | 'truncated' | 'trailing_bytes' | 'malformed_body' | 'unknown_schema';

export type Decoded =
  | { ok: true; family: string; version: number; value: Record<string, unknown> }
  | { ok: false; code: DecodeFailure; reason: string };

/** avsc's own words for the two framing errors (Type#fromBuffer), told apart from any other body error. */
const TRUNCATED = /truncated buffer/;
const TRAILING = /trailing data/;

/**
 * How to read what one writer version wrote: into the newest version of its family,
 * through a resolver when they differ. Found per message by the fingerprint's two
 * 32-bit halves, so the hot path builds no hex string and no Map key.
 */
interface ReadPath {
  writer: SchemaVersion;
  reader: SchemaVersion;
  /** undefined while not yet made (and always when reader is writer). */
  resolver: avro.Resolver | undefined;
  low: number;
  high: number;
}

/** Bytes at..at+3 as a little-endian int32 (signed: only compared, never shown). */
const int32At = (b: Buffer, at: number) => (b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 24);

export class SchemaRegistry {
  private readonly byFingerprint = new Map<string, SchemaVersion>();
  private readonly newest = new Map<string, SchemaVersion>();
  private readonly paths: ReadPath[] = [];

  constructor(readonly versions: SchemaVersion[]) {
    for (const v of versions) {
      const key = v.fingerprint.toString('hex');
      const clash = this.byFingerprint.get(key);
      if (clash) throw new Error(`${v.file} and ${clash.file} have the same canonical form; keep one`);
      this.byFingerprint.set(key, v);
      const current = this.newest.get(v.family);
      if (!current || current.version < v.version) this.newest.set(v.family, v);
    }
    // Fingerprints are distinct (checked above), so at most one path matches a message.
    for (const writer of versions) {
      const reader = this.latest(writer.family);
      this.paths.push({ writer, reader, resolver: undefined, low: int32At(writer.fingerprint, 0), high: int32At(writer.fingerprint, 4) });
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

  /**
   * Decodes a single-object message into the newest version of its family. Never throws.
   * Known limit (avsc 5.7.9): a map or array reads once per entry its block count claims,
   * even past the end of the bytes, so a corrupt count of 10^7 costs about a second here
   * before it comes back `truncated`.
   */
  decode(message: Buffer | null): Decoded {
    if (message === null) return { ok: false, code: 'null', reason: 'the message has no value (null, a tombstone): expected an Avro single-object encoded event' };
    if (message.length === 0) return { ok: false, code: 'empty', reason: 'the message value is empty (0 bytes): expected an Avro single-object encoded event' };
    if (message[0] !== 0xc3 || (message.length > 1 && message[1] !== 0x01)) {
      return {
        ok: false,
        code: 'not_avro',
        reason: `not Avro single-object encoding: expected marker c301 and 8 fingerprint bytes, got ${message.subarray(0, 4).toString('hex')} (${message.length} bytes)`,
      };
    }
    if (message.length < HEADER_BYTES) {
      return { ok: false, code: 'truncated', reason: `truncated header: Avro single-object encoding needs ${HEADER_BYTES} bytes (marker and fingerprint) before the body, got ${message.length}` };
    }
    const path = this.pathOf(message);
    if (!path) {
      const fp = message.subarray(2, HEADER_BYTES).toString('hex');
      return {
        ok: false,
        code: 'unknown_schema',
        reason: `unknown schema fingerprint ${fp}: no version in schemas/ has it (add the writer's .avsc there)`,
      };
    }
    const { writer, reader } = path;
    let read: { value: unknown; offset: number };
    try {
      // Type#decode reads the body in place (no subarray per message) and reports framing
      // by offset: -1 when the body ends early, short of the length when bytes follow.
      read = reader.type.decode(message, HEADER_BYTES, this.resolver(path));
    } catch (err) {
      const message_ = (err as Error).message;
      const code = TRUNCATED.test(message_) ? 'truncated' : TRAILING.test(message_) ? 'trailing_bytes' : 'malformed_body';
      return this.bodyFailure(writer, message, code, message_);
    }
    if (read.offset === -1) return this.bodyFailure(writer, message, 'truncated', '');
    if (read.offset < message.length) return this.bodyFailure(writer, message, 'trailing_bytes', '');
    return { ok: true, family: writer.family, version: writer.version, value: read.value as Record<string, unknown> };
  }

  private bodyFailure(writer: SchemaVersion, message: Buffer, code: 'truncated' | 'trailing_bytes' | 'malformed_body', error: string): Decoded {
    const what = code === 'truncated' ? 'the body ends before the record does' : code === 'trailing_bytes' ? 'bytes follow the end of the record' : error;
    return { ok: false, code, reason: `body does not decode as ${writer.family} v${writer.version}: ${what} (${message.length - HEADER_BYTES} body bytes)` };
  }

  /** The read path of the message's writer fingerprint (bytes 2..9), or undefined for a fingerprint no version has. */
  private pathOf(message: Buffer): ReadPath | undefined {
    const low = int32At(message, 2);
    const high = int32At(message, 6);
    for (const p of this.paths) if (p.low === low && p.high === high) return p;
    return undefined;
  }

  /** Made on first use and kept; one that fails to make (incompatible schemas) is tried again next time, and its error is the message's reason. */
  private resolver(path: ReadPath): avro.Resolver | undefined {
    if (path.reader === path.writer) return undefined;
    path.resolver ??= path.reader.type.createResolver(path.writer.type);
    return path.resolver;
  }
}
