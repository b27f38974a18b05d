// What the suite needs from the machine besides Node and npm: `ps` (procps) to find the
// service's worker processes, and Debian's Chromium for the browser tests (playwright-core drives
// it and downloads no browser of its own). `npm test` installs what is missing itself where it
// can (root, apt-get), so that `npm ci && npm test` holds on a fresh Debian machine; where it
// cannot, it stops at once with the command to run.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export interface Tool {
  command: string;
  /** The Debian package that provides it. */
  pkg: string;
  why: string;
  /** Only when browser tests run. */
  browser?: boolean;
}

export const TOOLS: Tool[] = [
  { command: 'ps', pkg: 'procps', why: "to find the service's worker processes" },
  { command: 'chromium', pkg: 'chromium', why: 'for the browser tests', browser: true },
  { command: 'haproxy', pkg: 'haproxy', why: "as the load balancer in front of the scale-out tests' hosts" },
  { command: 'openssl', pkg: 'openssl', why: "for the load balancer's TLS certificate" },
];

/** Whether `command` is an executable on `pathList` (absolute paths are checked as they are). */
export function onPath(command: string, pathList = process.env.PATH ?? ''): boolean {
  const candidates = path.isAbsolute(command)
    ? [command]
    : pathList
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.join(dir, command));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export type Plan =
  | { kind: 'ready' }
  | { kind: 'install'; packages: string[]; command: string[] }
  | { kind: 'stop'; message: string };

/** What to do about the tools missing here, as `root` with (or without) apt-get. */
export function plan(missing: Tool[], can: { root: boolean; apt: boolean }): Plan {
  if (missing.length === 0) return { kind: 'ready' };
  const packages = [...new Set(missing.map((t) => t.pkg))];
  if (can.root && can.apt)
    return { kind: 'install', packages, command: ['apt-get', 'install', '-y', '-qq', ...packages] };
  const why = missing.map((t) => `${t.command} (${t.why})`).join(', ');
  const fix = can.apt
    ? `sudo apt-get install -y ${packages.join(' ')}`
    : `install ${packages.join(' ')} with your system's package manager`;
  return {
    kind: 'stop',
    message: `the test suite needs ${why}, and installs it only as root with apt-get.\nRun:\n  ${fix}\nthen npm test again.`,
  };
}

/** Installs (or names) what is missing; exits the process when the suite cannot run. */
export function ensureSystemTools(opts: { browser: boolean }): void {
  const chromium = process.env.CHROMIUM_PATH;
  const missing = TOOLS.filter((t) => {
    if (t.browser && !opts.browser) return false;
    if (t.command === 'chromium' && chromium) return !onPath(chromium);
    return !onPath(t.command);
  });
  const next = plan(missing, { root: process.getuid?.() === 0, apt: onPath('apt-get') });
  if (next.kind === 'ready') return;
  if (next.kind === 'stop') {
    console.error(`✖ ${next.message}`);
    process.exit(1);
  }
  console.log(`npm test: installing ${next.packages.join(', ')} with apt-get (once per machine)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const steps = [['apt-get', 'update', '-qq'], next.command];
  for (const [command, ...args] of steps) {
    const result = spawnSync(command as string, args, { stdio: 'inherit', env });
    if (result.status !== 0) {
      console.error(
        `✖ ${[command, ...args].join(' ')} failed (exit ${result.status}); install ${next.packages.join(' ')} and run npm test again.`,
      );
      process.exit(1);
    }
  }
}
