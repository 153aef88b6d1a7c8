/**
 * `require` for the CommonJS packages on the daemon's start-up path (better-sqlite3,
 * msgpackr, noise-handshake, noise-curve-ed, node-cache; sodium-native already was). Importing
 * a CommonJS package from ESM makes Node parse its source for export names (cjs-module-lexer,
 * following re-exports) and build a module facade around it: for these five that was about
 * 27 ms of the ~150 ms the daemon module took to import here (test/bench/README.md, "This
 * round: daemon start-up"). msgpackr's `require` entry is the CommonJS build of the same code
 * as its ESM one. Each caller casts to the type of the package's own declarations
 * (`import type`), so nothing is untyped.
 */
import { createRequire } from 'node:module';

export const requireCjs: NodeJS.Require = createRequire(import.meta.url);
