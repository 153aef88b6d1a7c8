/**
 * The node:crypto fallback: agent/crypto uses libsodium when sodium-native loads and
 * node:crypto otherwise (WOTRELAY_NO_SODIUM=1 forces that). This runs the crypto unit tests
 * again in a child process without libsodium, so both backends stay checked against the
 * independent implementations (@noble/ed25519, tweetnacl) on every `npm test`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

test('crypto unit tests pass on the node:crypto backend too (WOTRELAY_NO_SODIUM=1)', () => {
  const probe = spawnSync(process.execPath, ['--input-type=module', '-e', `import { sodium } from ${JSON.stringify(path.resolve(here, '../../agent/crypto/sodium.js'))}; console.log(sodium === null ? 'off' : 'on');`], {
    env: { ...process.env, WOTRELAY_NO_SODIUM: '1' },
    encoding: 'utf8',
  });
  assert.is(probe.stdout.trim(), 'off', 'WOTRELAY_NO_SODIUM=1 turns libsodium off');
  const run = spawnSync(process.execPath, [path.join(here, 'crypto.test.js')], {
    env: { ...process.env, WOTRELAY_NO_SODIUM: '1', FORCE_COLOR: '0' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const out = `${run.stdout}${run.stderr}`;
  assert.is(run.status, 0, `crypto tests failed without libsodium:\n${out}`);
  assert.match(out, /Passed:\s+[1-9]/, 'the crypto tests ran');
  assert.not.match(out, /FAIL/);
});

test.run();
