import { minerConfigured } from '../../config/derived.ts';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/pool.ts';
import type { TokenVerifier } from '../../http/auth.ts';
import type { StreamQuota } from '../../http/stream-quota.ts';
import type { Channel } from '../../ipc.ts';
import type { Logger } from '../../log.ts';
import { MinerClient } from './miner.client.ts';
import { NodeRpcClient } from './node.client.ts';
import { type NodeCheck, NodeProbe } from './node.probe.ts';
import { rigRoutes } from './rig.routes.ts';
import { createLiveUpdates } from './rig.ws.ts';

export type { NodeCheck } from './node.probe.ts';
export type { LiveUpdates } from './rig.ws.ts';

export interface RigModuleDeps {
  db: Database;
  config: Config;
  tokens: TokenVerifier;
  /** One count of a user's SSE streams and WebSockets in this worker. */
  streams: StreamQuota;
  log: Logger;
  /** The link to the miner's supervisor. */
  supervisor: Channel;
}

/**
 * The rig module's door, on the serving side: the miner's stats and controls (through its
 * supervisor, in the primary or in-process), validated blocks, exports, the node RPC proxy, and
 * the live `/ws` feed; `readiness` is what `/api/ready` reports of the node (when one is
 * configured); `close` ends the export pool.
 */
export function createRig({ db, config, tokens, streams, log, supervisor }: RigModuleDeps) {
  const miner = new MinerClient(minerConfigured(config), config.MINER_STOP_TIMEOUT_MS + 5000, supervisor);
  const live = createLiveUpdates({
    tokens,
    streams,
    allowedOrigins: config.WS_ALLOWED_ORIGINS,
    miner,
    log,
    pushIntervalMs: config.STATS_PUSH_INTERVAL_MS,
    pingIntervalMs: config.WS_PING_INTERVAL_MS,
  });
  // Exports stream from a pool of their own: clients slow to read them cannot starve the rest.
  const exportDb = db.secondary(config.EXPORT_POOL_SIZE, 'export');
  const node = config.NODE_RPC_URL
    ? new NodeRpcClient(config.NODE_RPC_URL, config.NODE_RPC_TIMEOUT_MS)
    : undefined;
  const probe = node ? new NodeProbe(node) : undefined;
  const readiness: Record<string, () => Promise<NodeCheck>> = probe ? { node: () => probe.check() } : {};
  return {
    routes: rigRoutes({ miner, tokens, db, exportDb, node, config }),
    readiness,
    /** The `/ws` feed: `upgrade` for every HTTP/1.1 listener, `close` at the start of a drain. */
    live,
    close: () => exportDb.close(),
  };
}
