// The cut-over routes file (ROUTES_FILE, issue 15): who serves each method + path while routes
// move from the legacy service to ferrite. JSON, or YAML by the file's name; checked as a whole,
// every mistake named with its place, so a bad file stops a start (or a rolling reload) instead of
// half-applying.
import { readDocument } from '../../config/document.ts';
import { parseRoutePattern, type RoutePattern, routeMatches } from '../../config/route-pattern.ts';

export type Serve = 'ferrite' | 'legacy' | 'canary';

/** When a canary route falls back to the legacy service on its own. */
export interface RollbackBudget {
  /** ferrite's 5xx ratio may exceed the legacy's by this much (0.01: one point). */
  errorRatio: number;
  /** ferrite's p99 may be this many times the legacy's… */
  latencyFactor: number;
  /** …plus this many ms (so that 1 ms against 0.5 ms is no breach). */
  latencyMarginMs: number;
  /** The sliding window judged. */
  windowSeconds: number;
  /** Answers from ferrite in the window before it is judged (the legacy's p99 needs as many). */
  minSamples: number;
}

export interface CutoverRule {
  /** How operators and metrics name it: `name`, else the `match` text. */
  name: string;
  match: string;
  pattern: RoutePattern;
  serve: Serve;
  /** canary: the share of callers (0–100) that ferrite serves. */
  percent: number;
  rollback: RollbackBudget;
}

export const DEFAULT_BUDGET: RollbackBudget = {
  errorRatio: 0.01,
  latencyFactor: 1.5,
  latencyMarginMs: 5,
  windowSeconds: 60,
  minSamples: 50,
};

const MAX_RULES = 1000;
const RULE_KEYS = new Set(['name', 'match', 'serve', 'percent', 'rollback']);
const BUDGET_LIMITS: Record<keyof RollbackBudget, [min: number, max: number]> = {
  errorRatio: [0, 1],
  latencyFactor: [1, 1000],
  latencyMarginMs: [0, 600_000],
  windowSeconds: [1, 86_400],
  minSamples: [1, 1_000_000],
};

export class RoutesFileError extends Error {
  constructor(file: string, problems: string[]) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'RoutesFileError';
  }
}

/** Reads and checks the file; throws RoutesFileError naming every problem. */
export function loadRoutesFile(file: string): CutoverRule[] {
  const read = readDocument(file);
  if ('problem' in read) throw new RoutesFileError(file, [read.problem]);
  const doc = read.doc;
  const problems: string[] = [];
  const rules = readRules(doc, problems);
  if (problems.length > 0) throw new RoutesFileError(file, problems);
  return rules;
}

function readRules(doc: unknown, problems: string[]): CutoverRule[] {
  const list = (doc as { routes?: unknown } | null)?.routes;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || !Array.isArray(list)) {
    problems.push('must be an object with a `routes` list');
    return [];
  }
  for (const key of Object.keys(doc)) if (key !== 'routes') problems.push(`${key}: unknown key`);
  if (list.length > MAX_RULES) problems.push(`routes: at most ${MAX_RULES}`);
  const rules: CutoverRule[] = [];
  const names = new Set<string>();
  list.slice(0, MAX_RULES).forEach((raw, i) => {
    const rule = readRule(raw, `routes[${i}]`, problems);
    if (!rule) return;
    if (names.has(rule.name)) problems.push(`routes[${i}]: a second route named "${rule.name}"`);
    names.add(rule.name);
    rules.push(rule);
  });
  return rules;
}

function readRule(raw: unknown, at: string, problems: string[]): CutoverRule | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${at}: must be an object`);
    return undefined;
  }
  const r = raw as Record<string, unknown>;
  const before = problems.length;
  for (const key of Object.keys(r)) if (!RULE_KEYS.has(key)) problems.push(`${at}.${key}: unknown key`);
  const match = typeof r.match === 'string' ? r.match.trim() : '';
  const pattern = parseRoutePattern(match);
  if ('problem' in pattern) problems.push(`${at}.match: ${pattern.problem}`);
  const serve = r.serve;
  if (serve !== 'ferrite' && serve !== 'legacy' && serve !== 'canary') {
    problems.push(`${at}.serve: must be ferrite, legacy or canary`);
  }
  const percent = r.percent ?? (serve === 'canary' ? undefined : 0);
  if (typeof percent !== 'number' || !(percent >= 0 && percent <= 100)) {
    problems.push(
      `${at}.percent: ${serve === 'canary' ? 'a canary needs' : 'must be'} a number from 0 to 100`,
    );
  }
  const name = r.name ?? match;
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    problems.push(`${at}.name: must be a non-empty string of at most 200 characters`);
  }
  const rollback = readBudget(r.rollback, `${at}.rollback`, problems);
  if (problems.length > before) return undefined;
  return {
    name: name as string,
    match,
    pattern: pattern as RoutePattern,
    serve: serve as Serve,
    percent: percent as number,
    rollback,
  };
}

function readBudget(raw: unknown, at: string, problems: string[]): RollbackBudget {
  if (raw === undefined) return DEFAULT_BUDGET;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${at}: must be an object`);
    return DEFAULT_BUDGET;
  }
  const budget = { ...DEFAULT_BUDGET };
  for (const [key, value] of Object.entries(raw)) {
    const limits = BUDGET_LIMITS[key as keyof RollbackBudget];
    if (!limits) {
      problems.push(`${at}.${key}: unknown key (${Object.keys(BUDGET_LIMITS).join(', ')})`);
    } else if (typeof value !== 'number' || !(value >= limits[0] && value <= limits[1])) {
      problems.push(`${at}.${key}: must be a number from ${limits[0]} to ${limits[1]}`);
    } else {
      budget[key as keyof RollbackBudget] = value;
    }
  }
  return budget;
}

/** The first rule for this method and path (the path without its query), if any. */
export function findRule(
  rules: readonly CutoverRule[],
  method: string,
  path: string,
): CutoverRule | undefined {
  return rules.find((rule) => routeMatches(rule.pattern, method, path));
}
