// PM2 runs ferrite's primary as one forked process: the primary is the cluster (it forks the
// workers, replaces crashed ones, and rolls them on SIGHUP), so PM2's cluster mode is not used.
import path from 'node:path';

export const apps = [
  {
    name: 'ferrite',
    script: 'src/main.js',
    cwd: import.meta.dirname,
    // The runtime pinned in package.json and installed by `npm ci`, whatever node the host has.
    interpreter: path.join(import.meta.dirname, 'node_modules/.bin/node'),
    exec_mode: 'fork',
    instances: 1,
    autorestart: true,
    // The primary exits non-zero when its workers crash-loop; PM2 then restarts it, backing off.
    exp_backoff_restart_delay: 1000,
    // Only the primary receives the stop signal: it drains the workers and stops the embedded
    // Postgres itself. With tree-kill, PM2 would signal the workers and Postgres directly.
    treekill: false,
    kill_signal: 'SIGTERM',
    // Above SHUTDOWN_TIMEOUT_MS (10 s by default), so PM2 never cuts a drain short.
    kill_timeout: 15000,
    merge_logs: true,
    env: {
      NODE_ENV: 'production',
    },
  },
];

export default { apps };
