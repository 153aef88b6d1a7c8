#!/usr/bin/env node
/**
 * `wotrelay-directory`: the directory server's entry point. Parses flags and environment
 * (bad ones exit 2 saying what is wrong and how to fix it), opens the record store (exit 1
 * when it cannot), answers HTTP, sweeps expired records periodically, and shuts down
 * cleanly on SIGTERM / SIGINT. It answers "where is X?" lookups from signed announcements
 * and never relays messages. Depends on agent/identity, agent/wire and agent/crypto only.
 */
import { ConfigError, parseConfig, usage, type Config } from './config.js';
import { Logger } from './log.js';
import { DirectoryMetrics } from './metrics.js';
import { RedisStore } from './redis-store.js';
import { createDirectoryServer } from './server.js';
import { SqliteStore } from './sqlite-store.js';
import { StoreError, type RecordStore } from './store.js';
import { packageVersion } from './version.js';

const SHUTDOWN_GRACE_MS = 5000;

function fail(code: number, message: string, hint?: string): number {
  process.stderr.write(`wotrelay-directory: ${message}\n${hint ? `  ${hint}\n` : ''}${code === 2 ? 'try: wotrelay-directory --help\n' : ''}`);
  return code;
}

async function openStore(config: Config, log: Logger): Promise<RecordStore> {
  if (config.store.kind === 'sqlite') return SqliteStore.open(config.store.path, { cacheRecords: config.cacheRecords });
  return RedisStore.open(config.store.url, (msg) => log.warn('store connection problem', { err: msg }));
}

function formatAddr(a: ReturnType<import('node:http').Server['address']>): string {
  if (a === null || typeof a === 'string') return String(a);
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage());
    return 0;
  }
  if (argv.includes('--version')) {
    if (argv.length !== 1) return fail(2, '--version takes no other options');
    process.stdout.write(`wotrelay-directory ${packageVersion()}\n`);
    return 0;
  }
  let config: Config;
  try {
    config = parseConfig(argv, process.env);
  } catch (e) {
    if (e instanceof ConfigError) return fail(2, e.message, e.hint);
    throw e;
  }
  const log = new Logger(config.logFormat, config.logLevel);
  const metrics = new DirectoryMetrics();

  let store: RecordStore;
  try {
    store = await openStore(config, log);
  } catch (e) {
    if (e instanceof StoreError) return fail(1, e.message, e.hint);
    throw e;
  }
  metrics.info.set({ version: packageVersion(), store: store.kind }, 1);

  const dir = createDirectoryServer({ config, store, log, metrics });
  const listened = await new Promise<Error | null>((resolve) => {
    dir.server.once('error', (e) => resolve(e));
    dir.server.listen({ host: config.listen.host, port: config.listen.port }, () => resolve(null));
  });
  if (listened !== null) {
    await store.close();
    const code = (listened as NodeJS.ErrnoException).code;
    const where = `${config.listen.host}:${config.listen.port}`;
    if (code === 'EADDRINUSE') return fail(1, `cannot listen on ${where}: the address is already in use`, 'stop the other server or pick another --listen port');
    if (code === 'EACCES') return fail(1, `cannot listen on ${where}: permission denied`, 'use a port above 1023, or give the service CAP_NET_BIND_SERVICE');
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return fail(1, `cannot listen on ${where}: no such local address`, 'use an address of this machine, or 0.0.0.0 / [::] for all');
    return fail(1, `cannot listen on ${where}: ${listened.message}`);
  }
  dir.server.on('error', (e) => log.error('server error', { err: e.message }));

  log.info('listening', {
    addr: formatAddr(dir.server.address()),
    store: store.description,
    ttl: `${config.ttlMs / 1000}s`,
    max_records: config.maxRecords,
    ...(store.kind === 'sqlite' ? { cache_records: config.cacheRecords, fast_lane: config.fastLane ? 'on' : 'off' } : {}),
    rate_write: config.rateWrite?.text ?? 'off',
    rate_read: config.rateRead?.text ?? 'off',
    version: packageVersion(),
  });

  const sweepEvery = Math.max(1000, Math.min(60_000, Math.floor(config.ttlMs / 4)));
  const sweeper = setInterval(() => void dir.sweep(), sweepEvery);
  sweeper.unref();

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info('stopping', { signal });
      clearInterval(sweeper);
      const force = setTimeout(() => {
        log.warn('open connections did not finish in time; closing them', { grace_ms: SHUTDOWN_GRACE_MS });
        dir.closeAllConnections();
      }, SHUTDOWN_GRACE_MS);
      force.unref();
      void dir
        .close()
        .then(() => store.close())
        .then(
          () => {
            clearTimeout(force);
            log.info('stopped');
            resolve(0);
          },
          (e: unknown) => {
            log.error('shutdown failed', { err: e instanceof Error ? e.message : String(e) });
            resolve(1);
          },
        );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Exit even if a library left a handle open (the store and server are closed by now).
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (e: unknown) => {
    process.stderr.write(`wotrelay-directory: unexpected failure: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
