// Preload for the ablation: `node --import ./bench/decisions/hot-path/ablate.ts src/main.js`
// registers ablate-hooks.ts in every process it starts (the cluster's workers inherit
// execArgv). See ablate-hooks.ts for the pieces.
import { register } from 'node:module';

register('./ablate-hooks.ts', import.meta.url);
