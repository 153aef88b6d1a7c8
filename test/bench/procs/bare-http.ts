/**
 * The directory benchmark's baseline: a bare Node HTTP server answering every request with
 * the same constant body (the size of a typical announcement), as the directory server
 * answers a lookup: same status, type and length headers. Prints "listening PORT".
 *
 *   node bare-http.js BODY_BYTES
 */
import http from 'node:http';

const body = Buffer.alloc(Number(process.argv[2] ?? 350), 0x61);
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length), 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`));
