// Control: pure-JS CPU micro benchmark (JSON + string work), no I/O.
const t0 = process.hrtime.bigint();
let n = 0;
for (let i = 0; i < 2e6; i++) { n += JSON.stringify({ status: 'ok', i }).length; JSON.parse('{"a":' + i + '}'); }
console.log(process.version, 'cpu-micro ms =', Number(process.hrtime.bigint() - t0) / 1e6, n);
