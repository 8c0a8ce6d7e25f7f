/**
 * Avro Parsing Canonical Form and the CRC-64-AVRO (Rabin) fingerprint, as the
 * Avro specification defines them. Written against the spec (not avsc) so the
 * fingerprint on the wire depends only on the schema text we keep in schemas/.
 */

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
const KEPT_ORDER = ['name', 'type', 'fields', 'symbols', 'items', 'values', 'size'] as const;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function fullName(name: string, namespace: string | undefined): string {
  if (name.includes('.') || !namespace) return name;
  return `${namespace}.${name}`;
}

function canonicalNode(schema: Json, namespace: string | undefined): Json {
  if (typeof schema === 'string') {
    return PRIMITIVES.has(schema) ? schema : fullName(schema, namespace);
  }
  if (Array.isArray(schema)) return schema.map((s) => canonicalNode(s, namespace));
  if (schema === null || typeof schema !== 'object') {
    throw new Error(`not an Avro schema: ${JSON.stringify(schema)}`);
  }
  const type = schema.type;
  if (typeof type === 'string' && PRIMITIVES.has(type)) return type;
  if (typeof type !== 'string') return canonicalNode(type as Json, namespace);

  const out: Record<string, Json> = {};
  let innerNamespace = namespace;
  if (type === 'record' || type === 'error' || type === 'enum' || type === 'fixed') {
    const ns = typeof schema.namespace === 'string' ? schema.namespace : namespace;
    const name = fullName(String(schema.name), ns || undefined);
    out.name = name;
    const dot = name.lastIndexOf('.');
    innerNamespace = dot >= 0 ? name.slice(0, dot) : undefined;
  }
  out.type = type;
  if (Array.isArray(schema.fields)) {
    out.fields = schema.fields.map((f) => {
      const field = f as { [k: string]: Json };
      return { name: field.name as string, type: canonicalNode(field.type as Json, innerNamespace) };
    });
  }
  if (Array.isArray(schema.symbols)) out.symbols = schema.symbols;
  if (schema.items !== undefined) out.items = canonicalNode(schema.items, innerNamespace);
  if (schema.values !== undefined) out.values = canonicalNode(schema.values, innerNamespace);
  if (schema.size !== undefined) out.size = Number(schema.size);

  const ordered: Record<string, Json> = {};
  for (const key of KEPT_ORDER) if (key in out) ordered[key] = out[key] as Json;
  return ordered;
}

/** Parsing Canonical Form of a schema given as JSON text or a parsed value. */
export function canonicalForm(schema: string | Json): string {
  const parsed = typeof schema === 'string' ? (JSON.parse(schema) as Json) : schema;
  return JSON.stringify(canonicalNode(parsed, undefined));
}

const EMPTY = 0xc15d213aa4d7a795n;
const TABLE: bigint[] = Array.from({ length: 256 }, (_, i) => {
  let fp = BigInt(i);
  for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n));
  return fp;
});

/** CRC-64-AVRO of raw bytes, as an unsigned 64-bit bigint. */
export function rabin64(bytes: Uint8Array): bigint {
  let fp = EMPTY;
  for (const b of bytes) fp = (fp >> 8n) ^ (TABLE[Number((fp ^ BigInt(b)) & 0xffn)] as bigint);
  return fp;
}

/** The schema's fingerprint as the 8 little-endian bytes that follow C3 01 on the wire. */
export function fingerprintBytes(schema: string | Json): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(rabin64(Buffer.from(canonicalForm(schema), 'utf8')));
  return buf;
}

/** Signed 64-bit form, as Avro's test vectors print it. */
export function fingerprintSigned(schema: string | Json): bigint {
  return BigInt.asIntN(64, rabin64(Buffer.from(canonicalForm(schema), 'utf8')));
}
