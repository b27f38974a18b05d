import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { ROOT } from './cluster.ts';

/**
 * Runs an operator command (`node src/cli/….ts ARGS`) to its exit with `env` on top of the
 * test's own; `input`, when given, is its stdin. Resolves with the exit code and its output.
 */
export async function runCli(
  script: string,
  args: string[],
  env: Record<string, string | undefined> = {},
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const child = spawn(process.execPath, [script, ...args], {
    cwd: ROOT,
    env: childEnv,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  if (input !== undefined) child.stdin?.end(input);
  const [code] = await once(child, 'exit');
  return { code: code as number, stdout, stderr };
}
