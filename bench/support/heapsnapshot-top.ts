// node dist/bench/support/heapsnapshot-top.js FILE.heapsnapshot [N]
// What a V8 heap snapshot (node --heapsnapshot-signal) holds: the top N object kinds by their own
// (shallow) size, with counts, and the total. Shallow sizes add up to the heap; they say what
// kinds of objects fill it, not who keeps them (a retainer view needs DevTools).

import { readFileSync } from 'node:fs';

interface Snapshot {
  readonly snapshot: { readonly meta: { readonly node_fields: string[]; readonly node_types: [string[], ...unknown[]] } };
  readonly nodes: number[];
  readonly strings: string[];
}

const [file, nArg] = process.argv.slice(2);
if (!file) throw new Error('usage: heapsnapshot-top FILE.heapsnapshot [N]');
const n = Number(nArg ?? 30);
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const width = fields.length;
const typeAt = fields.indexOf('type');
const nameAt = fields.indexOf('name');
const sizeAt = fields.indexOf('self_size');
const types = snap.snapshot.meta.node_types[0];
const byKind = new Map<string, { size: number; count: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + typeAt]!] ?? '?';
  const size = snap.nodes[i + sizeAt]!;
  total += size;
  // Objects by constructor name; strings, code, arrays and the rest by type.
  const name = type === 'object' || type === 'closure' || type === 'native' ? `${type} ${snap.strings[snap.nodes[i + nameAt]!]}` : `(${type})`;
  const k = byKind.get(name) ?? { size: 0, count: 0 };
  k.size += size;
  k.count++;
  byKind.set(name, k);
}
const mb = (b: number) => (b / 1e6).toFixed(1).padStart(8);
console.log(`${mb(total)} MB in ${(snap.nodes.length / width).toLocaleString('en')} objects`);
for (const [name, k] of [...byKind].sort((a, b) => b[1].size - a[1].size).slice(0, n)) {
  console.log(`${mb(k.size)} MB ${((k.size / total) * 100).toFixed(1).padStart(5)} % ${String(k.count).padStart(9)}  ${name.slice(0, 100)}`);
}
