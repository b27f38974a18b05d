import cluster, { type Worker } from 'node:cluster';
import {
  MINER_COMMAND,
  MINER_EVENT,
  MINER_REPLY,
  type MinerCommand,
  type MinerReply,
} from './miner.protocol.ts';
import type { MinerSupervisor } from './miner.supervisor.ts';

/**
 * Connects the primary's miner supervisor to the workers: answers their commands over IPC and
 * broadcasts every status change, stats snapshot and found block to all of them.
 */
export function bridgeMinerToWorkers(miner: MinerSupervisor): void {
  const broadcast = (kind: 'miner' | 'stats' | 'block', data: unknown) => {
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker?.isConnected()) worker.send({ type: MINER_EVENT, kind, data });
    }
  };
  miner.on('miner', (status) => broadcast('miner', status));
  miner.on('stats', (snapshot) => broadcast('stats', snapshot));
  miner.on('block', (block) => broadcast('block', block));

  cluster.on('message', (worker: Worker, msg: MinerCommand) => {
    if (msg?.type !== MINER_COMMAND) return;
    const reply = (result: MinerReply['result']) => {
      if (!worker.isConnected()) return;
      const body: MinerReply = { type: MINER_REPLY, id: msg.id, result, status: miner.status() };
      worker.send({ ...body, snapshot: miner.snapshot() });
    };
    if (msg.op === 'start') reply(miner.start());
    else if (msg.op === 'stop') void miner.stop().then(() => reply('stopped'));
    else reply('status');
  });
}
