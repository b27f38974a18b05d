// The "before" peer: the service as the seeds describe it today, kept small. One express
// process (no cluster), default express settings, JS-only hot paths: `jose` for tokens, a WASM
// argon2id (hash-wasm) for passwords, and a database query per /api/stats request.
// Same paths and response shapes as ferrite for the lab's scenarios; same database.
import { randomUUID } from 'node:crypto';
import express from 'express';
import { argon2Verify } from 'hash-wasm';
import { jwtVerify, SignJWT } from 'jose';
import pg from 'pg';

const port = Number(process.env.PORT ?? 3000);
const secret = new TextEncoder().encode(process.env.JWT_SECRET ?? '');
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const app = express();
app.use(express.json());

const auth: express.RequestHandler = async (req, res, next) => {
  try {
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const { payload } = await jwtVerify(token, secret, { issuer: 'ferrite', audience: 'ferrite' });
    res.locals.sub = payload.sub;
    next();
  } catch {
    res.status(401).json({ error: 'unauthorized' });
  }
};

app.get('/api/health', (_req, res) => {
  res.json({ status: 'ok', version: '0.1.0', uptimeSeconds: process.uptime(), worker: '1' });
});

app.post('/api/auth/login', async (req, res) => {
  const { rows } = await pool.query('SELECT id, password_hash, scopes FROM users WHERE email = $1', [
    String(req.body?.email ?? '').toLowerCase(),
  ]);
  const user = rows[0];
  if (!user || !(await argon2Verify({ password: String(req.body.password), hash: user.password_hash }))) {
    res.status(401).json({ error: 'invalid credentials' });
    return;
  }
  const accessToken = await new SignJWT({ scope: user.scopes.join(' ') })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user.id)
    .setIssuer('ferrite')
    .setAudience('ferrite')
    .setIssuedAt()
    .setExpirationTime('15m')
    .setJti(randomUUID())
    .sign(secret);
  res.json({ accessToken, tokenType: 'Bearer', expiresIn: 900, refreshToken: randomUUID() });
});

app.get('/api/stats', auth, async (_req, res) => {
  const { rows } = await pool.query(
    'SELECT at, hashrate, accepted, rejected, stale, gpus FROM stats_samples ORDER BY at DESC LIMIT 1',
  );
  const s = rows[0];
  res.json({
    hashrate: { current: s?.hashrate ?? 0, avg1m: s?.hashrate ?? 0, avg15m: s?.hashrate ?? 0, unit: 'H/s' },
    shares: {
      accepted: Number(s?.accepted ?? 0),
      rejected: Number(s?.rejected ?? 0),
      stale: Number(s?.stale ?? 0),
    },
    gpus: s?.gpus ?? [],
    miner: { state: 'running', uptimeSeconds: 0 },
    updatedAt: s?.at ?? null,
  });
});

app.get('/api/blocks/validated', auth, async (req, res) => {
  const limit = Math.min(500, Math.max(1, Number(req.query.limit ?? 50)));
  const { rows } = await pool.query(
    `SELECT height, hash, difficulty, found_at, validated_at FROM blocks
     WHERE validated_at IS NOT NULL ORDER BY height DESC, hash DESC LIMIT $1`,
    [limit],
  );
  res.json({
    items: rows.map((r) => ({
      height: Number(r.height),
      hash: r.hash,
      foundAt: r.found_at,
      validatedAt: r.validated_at,
      difficulty: Number(r.difficulty),
    })),
    nextCursor: null,
  });
});

app.listen(port, '127.0.0.1', () => process.stdout.write(`before peer listening on ${port}\n`));
process.on('SIGTERM', () => process.exit(0));
