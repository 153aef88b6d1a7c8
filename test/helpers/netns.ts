/**
 * Network-namespace plumbing shared by the tests that build their own networks (LAN
 * discovery, NAT, UPnP): run `ip`/`nft`, create namespaces with loopback up, and remove
 * namespaces that killed runs left behind. Tests name namespaces `<prefix>-<pid>-…`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

/** Runs a command; throws with its stderr when it fails. */
export function run(cmd: string, args: string[], input?: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
}

export function ip(args: string[]): void {
  run('ip', args);
}

/** Removes `<prefix>-<pid>-*` namespaces whose test process is gone. */
export function removeStaleNamespaces(prefix: string): void {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  const re = new RegExp(`^(${prefix}-(\\d+)-\\S+)`);
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = re.exec(line);
    if (!m || Number(m[2]) === process.pid) continue;
    try {
      process.kill(Number(m[2]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') spawnSync('ip', ['netns', 'del', m[1]!]);
    }
  }
}

/** Adds a namespace (recorded in `created` for cleanup) with its loopback up. */
export function addNs(name: string, created: string[]): void {
  ip(['netns', 'add', name]);
  created.push(name);
  ip(['-n', name, 'link', 'set', 'lo', 'up']);
}

/**
 * True when this process runs inside the named namespace. Helpers that multicast (mDNS,
 * SSDP) refuse to run otherwise, so nothing leaves through this machine's interfaces.
 */
export function inNetns(name: string): boolean {
  try {
    const self = fs.statSync('/proc/self/ns/net');
    const ns = fs.statSync(`/run/netns/${name}`);
    return self.ino === ns.ino && self.dev === ns.dev;
  } catch {
    return false;
  }
}
