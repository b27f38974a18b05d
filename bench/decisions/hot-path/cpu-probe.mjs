// Preloaded (--import) by side-by-side.sh into every process: SIGUSR2 starts a V8 CPU profile
// (100 µs sampling), the next SIGUSR2 writes it to /tmp/cpuprof.PID.cpuprofile.
import inspector from 'node:inspector';
import fs from 'node:fs';
const s = new inspector.Session(); s.connect();
let on = false;
process.on('SIGUSR2', () => {
  if (!on) { on = true; s.post('Profiler.enable', () => s.post('Profiler.setSamplingInterval', { interval: 100 }, () => s.post('Profiler.start'))); return; }
  s.post('Profiler.stop', (err, { profile }) => { fs.writeFileSync(`/tmp/cpuprof.${process.pid}.cpuprofile`, JSON.stringify(profile)); on = false; });
});
