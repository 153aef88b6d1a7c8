/**
 * The soak run (`npm run soak`, not in CI): `npm run soak [-- --agents 10 --seconds 300
 * --rate 20 --kill-every 15 --seed S]` runs test/helpers/soak.ts — real daemons on loopback
 * sending to each other while random ones are killed with SIGKILL and restarted — and prints
 * messages sent (accepted by an app), delivered, duplicated to an app (must be 0), lost (must
 * be 0) and the peak resident memory of each agent. Exit code 1 when one was lost or shown twice.
 */
import { soak } from '../helpers/soak.js';
import { stopAll } from '../helpers/testnet.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) {
    process.stderr.write(`--${name} needs a number, e.g. --${name} ${dflt}\n`);
    process.exit(2);
  }
  return v;
}

const opts = {
  agents: arg('agents', 10),
  seconds: arg('seconds', 300),
  rate: arg('rate', 20),
  killEverySeconds: arg('kill-every', 15),
  seed: arg('seed', Date.now() % 1_000_000),
  drainSeconds: arg('drain', 180),
};
if (opts.agents < 3 || !Number.isInteger(opts.agents)) {
  process.stderr.write('--agents needs a whole number of at least 3\n');
  process.exit(2);
}
process.stdout.write(`soak: ${opts.agents} agents, ${opts.seconds} s, ${opts.rate} msgs/s, a kill every ~${opts.killEverySeconds} s, seed ${opts.seed}\n`);
try {
  const r = await soak({ ...opts, log: (s) => process.stdout.write(`  ${s}\n`) });
  process.stdout.write(
    [
      `sent (accepted by an app)   ${r.sent}`,
      `delivered                   ${r.delivered}`,
      `duplicated to an app        ${r.duplicatedToApp}`,
      `lost                        ${r.lost}`,
      `kills                       ${r.kills} (sends refused while the sender was down: ${r.refusedWhileDown})`,
      `peak memory per agent (MiB) ${Object.entries(r.peakRssMiB).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      `seed ${r.seed}, ${r.seconds.toFixed(1)} s`,
      '',
    ].join('\n'),
  );
  process.exitCode = r.lost === 0 && r.duplicatedToApp === 0 ? 0 : 1;
} finally {
  await stopAll();
}
