import { createTestDatabase } from './helpers/database.ts';
import { FerriteHost } from './helpers/hosts.ts';
import { Balancer } from './helpers/balancer.ts';
const db = await createTestDatabase();
const hosts = await Promise.all([1, 2].map((i) => FerriteHost.create(i, { databaseUrl: db.url, env: { SHUTDOWN_DELAY_MS: '1500' } })));
console.log(hosts.map((h) => [h.net.kind, h.url()]));
await Promise.all(hosts.map((h) => h.start()));
const lb = new Balancer();
await lb.start(hosts.map((h) => ({ name: h.name, address: h.net.address, port: h.port })));
await lb.waitFor('host1', 'UP'); await lb.waitFor('host2', 'UP');
console.log(await lb.states());
for (let i = 0; i < 4; i++) { const r = await fetch(lb.url('/api/health')); console.log(r.status, await r.text()); }
const t0 = Date.now();
const stopped = hosts[0].stop();
await lb.waitFor('host1', 'DOWN'); console.log('down after', Date.now() - t0);
console.log('exit', await stopped, Date.now() - t0);
await lb.stop(); for (const h of hosts) await h.close(); await db.drop();
