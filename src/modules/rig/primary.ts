// The rig module's door on the primary: the miner's supervisor (started from configuration), the
// bridge that carries its events and commands to and from the workers, and the recorder that
// keeps stats samples and found blocks in Postgres and validates blocks against the node. The
// workers' side is `index.ts`.
export { connectMiner } from './miner.bridge.ts';
export { createMiner, SIM_MINER } from './miner.command.ts';
export { RigRecorder } from './rig.recorder.ts';
