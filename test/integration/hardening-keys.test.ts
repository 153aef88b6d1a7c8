/**
 * Key files (test/ADVERSARIAL.md case 19), through the real CLI: `wotrelay daemon` refuses to
 * start when entity.key or agent.key is readable by others, owned by another user (as root:
 * chown to nobody) or a symlink, naming the file and the fix; and `wotrelay init` writes each
 * key through a temporary file created exclusively with mode 0600, fsync, rename and an fsync
 * of the directory, seen with strace (skipped, with the reason, without it).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, runCli } from '../helpers/testnet.js';

const dirs: string[] = [];
function home(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-keys-'));
  dirs.push(d);
  return d;
}

test.after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

let template = '';
/** A fresh copy of one initialised home (init once; copies keep the files' modes). */
async function initHome(): Promise<string> {
  if (!template) {
    template = home();
    const r = await runCli(['init', '--home', template, '--listen', '127.0.0.1:0']);
    assert.is(r.code, 0, r.stderr);
  }
  const h = home();
  fs.cpSync(template, h, { recursive: true });
  return h;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

test('case 19: a key file readable by others, owned by another user, or a symlink → the daemon does not start, and says which file and how to fix it', async () => {
  const cases: Array<[string, (file: string) => void, RegExp]> = [
    ['mode 0644', (f) => fs.chmodSync(f, 0o644), /chmod 600/],
    ['a symlink', (f) => {
      fs.renameSync(f, `${f}.real`);
      fs.symlinkSync(`${f}.real`, f);
    }, /symlink/],
  ];
  if (isRoot) cases.push(['owned by another user', (f) => fs.chownSync(f, 65534, 65534), /chown/]);
  else console.log('  (not root: the owned-by-another-user case is covered by the unit tests of keyfile.ts only)');
  const runs: Array<Promise<void>> = [];
  for (const name of ['entity.key', 'agent.key']) {
    for (const [what, spoil, fix] of cases) {
      const h = await initHome();
      const file = path.join(h, name);
      spoil(file);
      runs.push(
        runCli(['daemon', '--home', h, '--listen', '127.0.0.1:0'], { timeoutMs: 15_000 }).then((r) => {
          assert.is(r.code, 1, `${name} ${what}: exit code`);
          assert.ok(r.stderr.includes(file), `${name} ${what}: names the file: ${r.stderr}`);
          assert.match(r.stderr, fix, `${name} ${what}: says how to fix it`);
          assert.not.ok(fs.existsSync(path.join(h, 'api.sock')), 'nothing started');
        }),
      );
    }
  }
  await Promise.all(runs);
});

test('case 19: keys are written via a temporary file (exclusive, 0600), fsync, rename, then an fsync of the directory', () => {
  if (spawnSync('strace', ['-V']).status !== 0) return void console.log('  skipping the key-write trace: strace is not installed (apt-get install strace)');
  const h = home();
  const trace = path.join(h, '..', `${path.basename(h)}.strace`);
  dirs.push(trace);
  execFileSync('strace', ['-f', '-qq', '-e', 'trace=openat,write,fsync,rename,renameat,renameat2', '-o', trace, process.execPath, CLI, 'init', '--home', h, '--listen', '127.0.0.1:0'], { stdio: 'pipe' });
  const lines = fs.readFileSync(trace, 'utf8').split('\n').map((l) => l.replace(/^\d+\s+/, ''));
  for (const name of ['entity.key', 'agent.key']) {
    const final = path.join(h, name);
    const open = lines.findIndex((l) => l.startsWith('openat(') && l.includes(`"${final}.tmp-`));
    assert.ok(open >= 0, `${name}: written to a temporary file first`);
    assert.match(lines[open]!, /O_EXCL/, `${name}: created exclusively`);
    assert.match(lines[open]!, /, 0600\) = \d+$/, `${name}: with mode 0600 from the start`);
    const fd = /= (\d+)$/.exec(lines[open]!)![1];
    const tmpName = /"([^"]+)"/.exec(lines[open]!)![1]!;
    const rest = lines.slice(open + 1);
    const wrote = rest.findIndex((l) => l.startsWith(`write(${fd},`));
    const synced = rest.findIndex((l) => l.startsWith(`fsync(${fd})`));
    const renamed = rest.findIndex((l) => /^rename(at2?)?\(/.test(l) && l.includes(`"${tmpName}"`) && l.includes(`"${final}"`));
    assert.ok(wrote >= 0 && synced > wrote && renamed > synced, `${name}: write, fsync, then rename (${wrote}, ${synced}, ${renamed})`);
    const dirOpen = rest.findIndex((l, i) => i > renamed && l.startsWith('openat(') && l.includes(`"${h}"`));
    assert.ok(dirOpen > renamed, `${name}: then the directory is opened`);
    const dirFd = /= (\d+)$/.exec(rest[dirOpen]!)![1];
    assert.ok(rest.slice(dirOpen).some((l) => l.startsWith(`fsync(${dirFd})`)), `${name}: and synced, so the rename is durable`);
    assert.is(fs.statSync(final).mode & 0o777, 0o600);
  }
  assert.equal(fs.readdirSync(h).filter((f) => f.includes('.tmp-')), [], 'no temporary file left');
});

test.run();
