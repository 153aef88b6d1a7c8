/**
 * The package version for `wotrelay-directory --version`: read from the nearest
 * package.json named "wotrelay" above the running module (the directory server depends on
 * agent/identity, agent/wire and agent/crypto only, so it does not borrow the CLI's copy).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const FALLBACK_VERSION = '0.1.0';

export function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'wotrelay' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* not here */
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return FALLBACK_VERSION;
}
