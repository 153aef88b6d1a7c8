#!/usr/bin/env node
/**
 * `wotrelay-directory`: the directory server, which will answer "where is X?" lookups
 * from signed agent announcements and never relays messages. Until the reachability
 * release it only has --help and --version; anything else says what is missing (exit 2).
 */
import { packageVersion } from '../agent/cli/version.js';

const USAGE = `usage: wotrelay-directory [options]

The wotrelay directory server answers "where is X?" lookups: agents publish signed
announcements of the addresses where they can be reached, and other agents ask for
them. It only stores and serves announcements whose signatures check out; it never
relays messages and sees nothing of what agents say to each other.

options:
  --help, -h            show this help
  --version             print the version

planned options (coming in the reachability release):
  --listen HOST:PORT    where to answer lookups (coming in the reachability release)
  --store DIR           where to keep announcements (coming in the reachability release)
  --ttl DURATION        how long an announcement is kept without renewal (coming in the reachability release)

Until then, agents find each other through invite codes and addresses given with
wotrelay trust add --addr HOST:PORT.
`;

const PLANNED = ['--listen', '--store', '--ttl'];

function main(argv: string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (argv.length === 1 && argv[0] === '--version') {
    process.stdout.write(`wotrelay-directory ${packageVersion()}\n`);
    return 0;
  }
  const planned = argv.map((a) => a.split('=')[0]!).find((a) => PLANNED.includes(a));
  if (planned !== undefined) {
    process.stderr.write(`wotrelay-directory: ${planned} is not available yet (coming in the reachability release)\ntry: wotrelay-directory --help\n`);
  } else if (argv.length === 0) {
    process.stderr.write(
      'wotrelay-directory: the directory server cannot run yet: lookups arrive in the reachability release\n' +
        'try: wotrelay-directory --help (until then, share addresses with invite codes or wotrelay trust add --addr)\n',
    );
  } else {
    process.stderr.write(`wotrelay-directory: unknown argument "${argv.find((a) => a !== '--version') ?? argv[0]}"\ntry: wotrelay-directory --help\n`);
  }
  return 2;
}

process.exitCode = main(process.argv.slice(2));
