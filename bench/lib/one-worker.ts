// What `profile` and `profile:doctor` share: one scenario's load on a one-worker service, with
// the lab upstream and workspace seeded when the scenario needs them, everything stopped after.
import { LAB_ENV, type LabVars, loadScenario, seed, seedWorkspace } from './drive.ts';
import type { LoadResult } from './load.ts';
import { startUpstream } from './peers.ts';
import type { Scenario } from './scenarios.ts';
import { benchDatabase, startService } from './service.ts';

/** Runs `scenario` (2 s warm-up, then its duration) against one worker; resolves with the load and the primary's pid. */
export async function loadOneWorker(
  scenario: Scenario,
  logFile: string,
  env: Record<string, string>,
): Promise<{ result: LoadResult; primaryPid: number }> {
  const db = await benchDatabase();
  const upstream = scenario.needs === 'upstream' ? await startUpstream(20) : undefined;
  const service = await startService(db.url, logFile, {
    ...LAB_ENV,
    ...(upstream ? { TASK_UPSTREAM_URL: upstream.origin } : {}),
    ...env,
    WORKERS: '1',
  });
  try {
    const token = await seed(service.origin, db.url);
    const vars: LabVars = scenario.path.includes('{project}')
      ? await seedWorkspace(service.origin, token)
      : {};
    await loadScenario(scenario, service.origin, token, 2, vars);
    const result = await loadScenario(scenario, service.origin, token, scenario.durationSec, vars);
    return { result, primaryPid: service.child.pid as number };
  } finally {
    await service.stop();
    await upstream?.stop();
    await db.stop();
  }
}
