/** Minimal type declarations for holepunchto's Noise implementation (CommonJS, untyped). */
declare module 'noise-handshake' {
  export interface NoiseKeyPair { publicKey: Uint8Array; secretKey: Uint8Array }
  export interface NoiseCurve { PKLEN: number; generateKeyPair(privKey?: Uint8Array): NoiseKeyPair }
  export default class NoiseState {
    constructor(pattern: 'XX' | 'IK' | 'XK' | 'NN', initiator: boolean, staticKeypair: NoiseKeyPair | null, opts?: { curve?: NoiseCurve });
    initialise(prologue: Uint8Array, remoteStatic?: Uint8Array): void;
    send(payload?: Uint8Array): Uint8Array;
    recv(buf: Uint8Array): Uint8Array;
    getHandshakeHash(out?: Uint8Array): Uint8Array;
    readonly complete: boolean;
    readonly rs: Uint8Array | null;
    readonly rx: Uint8Array | null;
    readonly tx: Uint8Array | null;
    readonly hash: Uint8Array | null;
  }
}
declare module 'noise-curve-ed' {
  import type { NoiseCurve, NoiseKeyPair } from 'noise-handshake';
  const curve: NoiseCurve & { generateKeyPair(privKey?: Uint8Array): NoiseKeyPair };
  export default curve;
}
