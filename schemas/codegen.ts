/**
 * Renders TypeScript types from the newest version of each schema family, so the
 * types cannot drift from the .avsc files: `npx cx schemas types` rewrites
 * schemas/types.generated.ts, and a test fails when the file is stale.
 */
import type { SchemaRegistry } from './registry.ts';

type Node = string | Node[] | { [k: string]: unknown };

const SCALARS: Record<string, string> = {
  null: 'null', boolean: 'boolean', int: 'number', long: 'number', float: 'number',
  double: 'number', bytes: 'Buffer', string: 'string',
};

function constName(enumName: string): string {
  // RatingScale -> RATING_SCALE_SYMBOLS
  return `${enumName.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}_SYMBOLS`;
}

export function renderTypes(registry: SchemaRegistry, families: string[]): string {
  const declared = new Map<string, string>();
  const order: string[] = [];

  function typeOf(node: Node): string {
    if (typeof node === 'string') {
      if (SCALARS[node]) return SCALARS[node] as string;
      const short = node.split('.').pop() as string;
      if (!declared.has(short)) throw new Error(`unknown named type ${node}`);
      return short;
    }
    if (Array.isArray(node)) return node.map(typeOf).join(' | ');
    const t = node.type as Node;
    if (typeof t !== 'string') return typeOf(t);
    if (SCALARS[t]) return SCALARS[t] as string;
    if (t === 'array') return `Array<${typeOf(node.items as Node)}>`;
    if (t === 'map') return `Record<string, ${typeOf(node.values as Node)}>`;
    const name = String(node.name).split('.').pop() as string;
    if (declared.has(name)) return name;
    if (t === 'enum') {
      const symbols = (node.symbols as string[]).map((s) => `'${s}'`).join(', ');
      declared.set(name, `export const ${constName(name)} = [${symbols}] as const;\nexport type ${name} = (typeof ${constName(name)})[number];`);
      order.push(name);
      return name;
    }
    if (t === 'record') {
      declared.set(name, '');
      const fields = (node.fields as { name: string; type: Node; doc?: string }[]).map((f) => {
        const doc = f.doc ? `  /** ${f.doc} */\n` : '';
        return `${doc}  ${f.name}: ${typeOf(f.type)};`;
      });
      const doc = node.doc ? `/** ${String(node.doc)} */\n` : '';
      declared.set(name, `${doc}export interface ${name} {\n${fields.join('\n')}\n}`);
      order.push(name);
      return name;
    }
    throw new Error(`unsupported Avro type ${t}`);
  }

  const header = families.map((f) => {
    const v = registry.latest(f);
    typeOf(v.schema as Node);
    return `${f} v${v.version}`;
  });
  return [
    '// Generated from schemas/*.avsc by `npx cx schemas types`. Do not edit by hand.',
    `// Newest versions: ${header.join(', ')}.`,
    '',
    ...order.map((n) => `${declared.get(n)}\n`),
  ].join('\n');
}

export const CONTRACT_FAMILIES = ['TouchpointEvent', 'OutcomeEvent', 'AlertEvent'];
