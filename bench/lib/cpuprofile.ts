// Summarises a V8 .cpuprofile: where a worker's CPU went, by package and by function (self time),
// and JavaScript functions outside node core with what they called (inclusive time).
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Share {
  name: string;
  percent: number;
}

/** Which package (or project directory) a frame's script belongs to. */
export function ownerOf(url: string, root: string): string {
  if (!url) return '(native/V8)';
  if (url.startsWith('node:')) return 'node core';
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  const i = file.lastIndexOf('/node_modules/');
  if (i >= 0) {
    const rest = file.slice(i + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? file);
  }
  const rel = path.relative(root, file);
  return rel.startsWith('..') ? file : path.dirname(rel);
}

/** Self time per owner and per function, as percentages of the busy (non-idle) samples. */
export function summarise(
  profile: CpuProfile,
  root: string,
  top = 12,
): { owners: Share[]; functions: Share[]; inclusive: Share[]; idlePercent: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n: ProfileNode) => {
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url ? `${path.basename(url)}:${lineNumber + 1}` : '';
    return `${functionName || '(anonymous)'} ${where}`.trim();
  };
  // Inclusive time: a sample counts once for every distinct function on its stack, so a
  // middleware's share includes whatever it called.
  const within = new Map<string, number>();
  const owners = new Map<string, number>();
  const fns = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    const { functionName, url } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') {
      idle += dt;
      return;
    }
    busy += dt;
    const owner = functionName === '(garbage collector)' ? 'GC' : ownerOf(url, root);
    owners.set(owner, (owners.get(owner) ?? 0) + dt);
    const fn = label(node);
    fns.set(fn, (fns.get(fn) ?? 0) + dt);
    const onStack = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at);
      if (frame?.callFrame.url && !frame.callFrame.url.startsWith('node:')) onStack.add(label(frame));
    }
    for (const f of onStack) within.set(f, (within.get(f) ?? 0) + dt);
  });
  const rank = (m: Map<string, number>, n = top): Share[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, t]) => ({ name, percent: busy ? (100 * t) / busy : 0 }));
  const total = idle + busy;
  return {
    owners: rank(owners),
    functions: rank(fns),
    inclusive: rank(within, 2 * top),
    idlePercent: total ? (100 * idle) / total : 0,
  };
}
