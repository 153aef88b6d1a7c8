/**
 * Minimal ambient types for `nat-upnp` 1.1 (CommonJS, no bundled types): only what
 * agent/reach/upnp.ts uses. Callbacks receive plain Errors (e.g. "timeout",
 * "Request failed: 500", ECONNREFUSED from `request`).
 */
declare module 'nat-upnp' {
  import type { EventEmitter } from 'node:events';

  export interface PortMappingOptions {
    public: number | { host?: string; port: number };
    private: number | { host?: string; port: number };
    protocol?: 'TCP' | 'UDP' | 'tcp' | 'udp';
    description?: string;
    /** Lease in seconds (NewLeaseDuration). */
    ttl?: number;
  }

  export interface Client {
    /** Milliseconds the SSDP search for a gateway waits (default 1800). */
    timeout: number;
    ssdp: { sockets: EventEmitter[]; _closed?: boolean };
    portMapping(opts: PortMappingOptions, cb?: (err: Error | null) => void): void;
    portUnmapping(opts: Pick<PortMappingOptions, 'public' | 'protocol'>, cb?: (err: Error | null) => void): void;
    externalIp(cb: (err: Error | null, ip?: string) => void): void;
    close(): void;
  }

  export function createClient(): Client;
  const natUpnp: { createClient: typeof createClient };
  export default natUpnp;
}
