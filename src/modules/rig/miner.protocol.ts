/** Shapes shared by the miner supervisor (primary) and the rig module (workers). */

export type MinerState = 'stopped' | 'starting' | 'running' | 'stopping' | 'crashed';

export interface MinerStatus {
  state: MinerState;
  pid: number | null;
  startedAt: string | null;
  uptimeSeconds: number;
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  recentLog: string[];
}

export interface StatsSnapshot {
  hashrate: { current: number; avg1m: number; avg15m: number; unit: 'H/s' };
  shares: { accepted: number; rejected: number; stale: number };
  gpus: {
    index: number;
    name: string;
    temperatureC: number;
    fanPercent: number;
    powerW: number;
    hashrate: number;
  }[];
  updatedAt: string;
}

export interface MinerBlock {
  height: number;
  hash: string;
  difficulty: number | null;
  foundAt: string;
}

/** IPC between workers and the primary. */
export const MINER_COMMAND = 'ferrite:miner-command';
export const MINER_REPLY = 'ferrite:miner-reply';
export const MINER_EVENT = 'ferrite:miner-event';

export type MinerOp = 'start' | 'stop' | 'status';

export interface MinerCommand {
  type: typeof MINER_COMMAND;
  id: number;
  op: MinerOp;
}

export interface MinerReply {
  type: typeof MINER_REPLY;
  id: number;
  result: 'started' | 'already' | 'stopped' | 'status';
  status: MinerStatus;
}

export type MinerEvent =
  | { type: typeof MINER_EVENT; kind: 'miner'; data: MinerStatus }
  | { type: typeof MINER_EVENT; kind: 'stats'; data: StatsSnapshot }
  | { type: typeof MINER_EVENT; kind: 'block'; data: MinerBlock };
