/** The sans-I/O protocol core (see core.ts) and the signed hop chain (path.ts). */
export * from './core.js';
export * from './path.js';
export * from './complaints.js';
export * from './routes.js';
export * from './ratelimit.js';
export * from './bounded.js';
export * from './evidence.js';
