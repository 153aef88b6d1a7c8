/**
 * Public surface of agent/wire: constants, errors, message types, the msgpack pre-scanner,
 * codec (encode/decode of every wire value), validators and framing.
 */
export * from './constants.js';
export * from './errors.js';
export * from './types.js';
export * from './scan.js';
export * from './codec.js';
export * from './messages.js';
export * from './framing.js';
