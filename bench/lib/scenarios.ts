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
  /** Statuses that are not errors for this scenario. */
  expect: number[];
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
];
