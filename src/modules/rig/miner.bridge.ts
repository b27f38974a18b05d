import type { Message, ServingEnds } from '../../ipc.ts';
import {
  MINER_COMMAND,
  MINER_EVENT,
  MINER_REPLY,
  type MinerCommand,
  type MinerReply,
} from './miner.protocol.ts';
import type { MinerSupervisor } from './miner.supervisor.ts';

/**
 * Connects the miner's supervisor to the serving side (the workers over IPC, or the single
 * process's app in-process): answers their commands and broadcasts every status change, stats
 * snapshot and found block to all of them.
 */
export function connectMiner(miner: MinerSupervisor, ends: ServingEnds): void {
  const broadcast = (kind: 'miner' | 'stats' | 'block', data: unknown) =>
    ends.broadcast({ type: MINER_EVENT, kind, data });
  miner.on('miner', (status) => broadcast('miner', status));
  miner.on('stats', (snapshot) => broadcast('stats', snapshot));
  miner.on('block', (block) => broadcast('block', block));

  ends.onMessage((message: Message, send) => {
    if (message.type !== MINER_COMMAND) return;
    const msg = message as unknown as MinerCommand;
    const reply = (result: MinerReply['result']) => {
      const body: MinerReply = { type: MINER_REPLY, id: msg.id, result, status: miner.status() };
      send({ ...body, snapshot: miner.snapshot() });
    };
    if (msg.op === 'start') reply(miner.start());
    else if (msg.op === 'stop') void miner.stop().then(() => reply('stopped'));
    else reply('status');
  });
}
