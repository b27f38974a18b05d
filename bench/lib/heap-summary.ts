import { readFile } from 'node:fs/promises';

/** A V8 heap snapshot's self sizes summed per constructor (or per kind for code, strings…). */
export async function heapSummary(
  file: string,
  top = 12,
): Promise<{ name: string; mb: number; count: number }[]> {
  const snap = JSON.parse(await readFile(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [
    number,
    number,
    number,
  ];
  const sums = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] as number] ?? '?';
    // Objects by their constructor; everything else (code, strings, arrays, hidden) by kind.
    const name = type === 'object' ? (snap.strings[snap.nodes[i + nameAt] as number] ?? '?') : `(${type})`;
    const entry = sums.get(name) ?? { bytes: 0, count: 0 };
    entry.bytes += snap.nodes[i + sizeAt] as number;
    entry.count++;
    sums.set(name, entry);
  }
  return [...sums]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .slice(0, top)
    .map(([name, e]) => ({ name, mb: Math.round((e.bytes / 2 ** 20) * 10) / 10, count: e.count }));
}
