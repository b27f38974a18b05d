import type { Tolerance } from './stats.ts';

/** Every scenario's load, fixed in one place. */
export interface Scenario {
  name: string;
  tool: 'autocannon' | 'h2load';
  method: 'GET' | 'POST';
  path: string;
  auth: boolean;
  body?: 'login';
  connections: number;
  pipelining?: number;
  /** h2load: concurrent streams per connection. */
  streams?: number;
  durationSec: number;
  warmupSec: number;
  /** Request headers; `{name}` in them (and in `path`) is filled from the seeded data. */
  headers?: Record<string, string>;
  /** Statuses that are not errors for this scenario. */
  expect: number[];
  /** A wider regression tolerance where identical runs vary more than the default allows. */
  tolerance?: Partial<Tolerance>;
  /** What the run must provide besides the service: a local upstream behind /v1/task. */
  needs?: 'upstream';
  /** Runs beside the measured load (e.g. logins while health is measured). */
  background?: { path: string; body: 'login'; connections: number };
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'health',
    tool: 'autocannon',
    method: 'GET',
    path: '/api/health',
    auth: false,
    connections: 50,
    durationSec: 10,
    warmupSec: 2,
    expect: [200],
  },
  {
    name: 'stats',
    tool: 'autocannon',
    method: 'GET',
    path: '/api/stats',
    auth: true,
    connections: 50,
    durationSec: 10,
    warmupSec: 2,
    expect: [200],
  },
  {
    name: 'blocks',
    tool: 'autocannon',
    method: 'GET',
    path: '/api/blocks/validated?limit=50',
    auth: true,
    connections: 50,
    // Postgres shares the cores: p99 spread 32 to 43 ms over five identical runs here.
    tolerance: { p99: 0.35 },
    durationSec: 10,
    warmupSec: 2,
    expect: [200],
  },
  {
    name: 'login',
    tool: 'autocannon',
    method: 'POST',
    path: '/api/auth/login',
    auth: false,
    body: 'login',
    connections: 16,
    // argon2id saturates both cores: five identical runs here gave 142 to 199 req/s.
    tolerance: { rps: 0.3, p99: 0.4 },
    durationSec: 10,
    warmupSec: 2,
    expect: [200],
  },
  {
    name: 'health-during-logins',
    tool: 'autocannon',
    method: 'GET',
    path: '/api/health',
    auth: false,
    connections: 10,
    durationSec: 10,
    warmupSec: 1,
    expect: [200],
    background: { path: '/api/auth/login', body: 'login', connections: 50 },
    // What it measures is the p99 beside the logins; its throughput moves with theirs (8.5k to
    // 10.2k req/s over five identical runs here).
    tolerance: { rps: 0.2 },
  },
  {
    name: 'h2-health',
    tool: 'h2load',
    method: 'GET',
    path: '/api/health',
    auth: false,
    connections: 10,
    streams: 10,
    durationSec: 10,
    warmupSec: 2,
    expect: [200],
  },
  {
    name: 'h2-stats',
    tool: 'h2load',
    method: 'GET',
    path: '/api/stats',
    auth: true,
    connections: 10,
    streams: 10,
    durationSec: 10,
    warmupSec: 2,
    expect: [200],
  },
  {
    // Through the gateway to a local upstream that answers after 20 ms (bench/peers/upstream.ts).
    name: 'task-proxy',
    tool: 'autocannon',
    method: 'GET',
    path: '/v1/task/jobs/42?view=full',
    auth: true,
    connections: 200,
    durationSec: 10,
    warmupSec: 2,
    expect: [200],
    needs: 'upstream',
  },
  {
    // A client revalidating a file it holds: the ETag/304 path of the workspace.
    name: 'vfs-read',
    tool: 'autocannon',
    method: 'GET',
    path: '/api/projects/{project}/files/src/readme.md',
    headers: { 'if-none-match': '{etag}' },
    auth: true,
    connections: 50,
    // One query per request: p99 spread 22 to 29 ms over five identical runs here.
    tolerance: { p99: 0.35 },
    durationSec: 10,
    warmupSec: 2,
    expect: [304],
  },
];
