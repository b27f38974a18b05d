import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { H1Client, type Reply } from './helpers/clients.ts';
import { type RunningCluster, useCluster } from './helpers/cluster.ts';

// Reuse detection must hold against a thief who keeps rotating a stolen token while the victim
// replays (or logs out with) an older one: afterwards no token of that family may refresh.
const TRIALS = 50;
const THIEF_ROTATIONS = 3;

interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

describe('refresh-token families under concurrent rotation', () => {
  let pool: pg.Pool;
  let cluster: RunningCluster;
  // Separate connection pools, as a thief and a victim on two machines would have.
  let thief: H1Client;
  let victim: H1Client;
  // Ended before the database is dropped (hooks run in the order they are registered).
  after(async () => {
    await thief?.close();
    await victim?.close();
    await pool?.end();
  });
  const service = useCluster({ env: { LOGIN_MAX_ATTEMPTS_PER_IP: '100000' } }, () => {
    cluster = service.cluster;
    pool = new pg.Pool({ connectionString: service.db.url, max: 2 });
    thief = new H1Client();
    victim = new H1Client();
  });

  const post = (client: H1Client, path: string, body: unknown): Promise<Reply> =>
    client.request(`${cluster.http}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  let account: { email: string; password: string } | undefined;
  async function login(): Promise<TokenPair> {
    if (!account) {
      account = {
        email: `race-${randomBytes(4).toString('hex')}@example.com`,
        password: 'pw-race-condition-x',
      };
      const reg = await post(victim, '/api/auth/register', account);
      assert.equal(reg.status, 201, reg.text());
    }
    const res = await post(victim, '/api/auth/login', account);
    assert.equal(res.status, 200, res.text());
    return res.json<TokenPair>();
  }

  async function refresh(client: H1Client, token: string): Promise<TokenPair | undefined> {
    const res = await post(client, '/api/auth/refresh', { refreshToken: token });
    assert.ok(res.status === 200 || res.status === 401, `${res.status} ${res.text()}`);
    return res.status === 200 ? res.json<TokenPair>() : undefined;
  }

  /** The thief rotates as long as it can; resolves with the last token it holds. */
  async function rotate(start: string): Promise<string> {
    let token = start;
    for (let i = 0; i < THIEF_ROTATIONS; i++) {
      const next = await refresh(thief, token);
      if (!next) break;
      token = next.refreshToken;
    }
    return token;
  }

  async function liveTokens(token: string): Promise<number> {
    const hash = createHash('sha256').update(token).digest();
    const res = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM refresh_tokens
       WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
         AND used_at IS NULL AND revoked_at IS NULL`,
      [hash],
    );
    return res.rows[0]?.n ?? -1;
  }

  /**
   * One trial: the victim's first token was refreshed by the thief (so it is used). The thief
   * keeps rotating while the victim's `act` runs; `victimFirst` decides who sends first.
   */
  async function trial(
    act: (original: string) => Promise<Reply>,
    victimFirst: boolean,
  ): Promise<{ survivors: number; thiefStillRefreshes: boolean }> {
    const original = (await login()).refreshToken;
    const stolen = await refresh(thief, original);
    assert.ok(stolen, 'the first rotation succeeds');
    let last: string;
    let victimReply: Reply;
    if (victimFirst) {
      const v = act(original);
      [last, victimReply] = await Promise.all([rotate(stolen.refreshToken), v]);
    } else {
      const t = rotate(stolen.refreshToken);
      [victimReply, last] = await Promise.all([act(original), t]);
    }
    assert.ok(victimReply.status < 500, `${victimReply.status} ${victimReply.text()}`);
    const survivors = await liveTokens(original);
    const thiefStillRefreshes = (await refresh(thief, last)) !== undefined;
    return { survivors, thiefStillRefreshes };
  }

  const replay = (original: string) => post(victim, '/api/auth/refresh', { refreshToken: original });
  const logout = (original: string) => post(victim, '/api/auth/logout', { refreshToken: original });

  for (const [name, act] of [
    ['the victim replays the used original', replay],
    ['the victim logs out with the original', logout],
  ] as const) {
    for (const victimFirst of [false, true]) {
      it(`when the thief rotates while ${name} (${victimFirst ? 'victim' : 'thief'} first), then no token of the family survives in ${TRIALS} trials`, async () => {
        let failed = 0;
        for (let i = 0; i < TRIALS; i++) {
          const r = await trial(act, victimFirst);
          if (r.survivors !== 0 || r.thiefStillRefreshes) failed++;
        }
        assert.equal(failed, 0, `${failed} of ${TRIALS} trials kept a live chain`);
      });
    }
  }
});
