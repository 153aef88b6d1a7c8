/**
 * The directory's settings and their documentation agree: every option (directory-server/
 * config.ts OPTIONS) is shown by --help, has a row in the operator guide's options table
 * (directory-server/README.md) and is named in the systemd unit's list of settings
 * (systemd/wotrelay-directory.service), so a new setting cannot ship undocumented.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OPTIONS, usage } from '../../directory-server/config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('every directory option is in --help, the operator guide and the systemd unit', () => {
  const help = usage();
  const guide = fs.readFileSync(path.join(root, 'directory-server/README.md'), 'utf8');
  const unit = fs.readFileSync(path.join(root, 'systemd/wotrelay-directory.service'), 'utf8');
  const unitSettings = unit
    .split('\n')
    .filter((l) => l.startsWith('#'))
    .join(' ');
  assert.ok(OPTIONS.length >= 10);
  for (const o of OPTIONS) {
    assert.ok(help.includes(`${o.flag} ${o.arg}`), `--help shows ${o.flag}`);
    assert.ok(help.includes(o.env), `--help names ${o.env}`);
    assert.match(guide, new RegExp(`^\\| \`${o.flag}[ \`].*\\| \`${o.env}\` \\|`, 'm'), `the guide's options table has ${o.flag} with ${o.env}`);
    const short = o.env.replace('WOTRELAY_DIRECTORY', '');
    assert.ok(unitSettings.includes(o.env) || new RegExp(`\\b${short}\\b`).test(unitSettings), `the systemd unit names ${o.env}`);
  }
});

test.run();
