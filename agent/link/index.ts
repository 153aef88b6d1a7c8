/** Link layer: authenticated encrypted neighbour connections (see link.ts). */
export * from './link.js';
export * from './bytequeue.js';
