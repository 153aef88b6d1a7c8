/**
 * Test helper process: a minimal UPnP Internet Gateway Device for test/integration/upnp.
 * (Debian's miniupnpd refuses to serve when its WAN address is private, so it cannot be
 * the IGD in tests here.) It answers SSDP M-SEARCH for
 * urn:schemas-upnp-org:device:InternetGatewayDevice:1 (UDP 239.255.255.250:1900) with a
 * LOCATION to a tiny HTTP server that serves a root device description with one
 * WANIPConnection:1 service and answers the SOAP actions nat-upnp sends: AddPortMapping,
 * DeletePortMapping, GetExternalIPAddress. Reports on stdout, one JSON object a line:
 *   {"event":"ready","http":PORT}
 *   {"event":"msearch","st":"…","from":"ip:port"}
 *   {"event":"soap","action":"AddPortMapping","args":{"NewExternalPort":"…",…},"status":200}
 * Options: --fault CODE answers AddPortMapping with a SOAP fault (HTTP 500, UPnPError CODE);
 * --garbage ACTION answers that action with HTTP 200 and a body that is not XML (a buggy
 * gateway); --external-ip IP (default 203.0.113.7). It refuses to run anywhere but inside the test
 * namespace named by --netns (wrupnp-…), so SSDP never reaches the machine's own interfaces:
 *   ip netns exec wrupnp-1-igd node igd.js --netns wrupnp-1-igd --addr 10.66.0.1 [--fault 718]
 */
import dgram from 'node:dgram';
import { inNetns } from './netns.js';
import http from 'node:http';

const IGD_ST = 'urn:schemas-upnp-org:device:InternetGatewayDevice:1';
const SERVICE = 'urn:schemas-upnp-org:service:WANIPConnection:1';
const FAULT_TEXT: Record<string, string> = { '718': 'ConflictInMappingEntry', '606': 'Action not authorized', '714': 'NoSuchEntryInArray' };

function fail(msg: string): never {
  process.stderr.write(`igd: ${msg}\n`);
  process.exit(2);
}


const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const netns = opt('--netns') ?? fail('--netns is required');
if (!/^wrupnp-/.test(netns) || !inNetns(netns)) fail(`not inside the test namespace ${netns}; refusing to answer SSDP on this machine's interfaces`);
const addr = opt('--addr') ?? fail('--addr is required');
const fault = opt('--fault');
const garbage = opt('--garbage');
const externalIp = opt('--external-ip') ?? '203.0.113.7';

const out = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + '\n');

function rootDescription(): string {
  return `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<device>
<deviceType>${IGD_ST}</deviceType>
<friendlyName>wotrelay test IGD</friendlyName>
<UDN>uuid:00000000-0000-0000-0000-000000000001</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<UDN>uuid:00000000-0000-0000-0000-000000000002</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<UDN>uuid:00000000-0000-0000-0000-000000000003</UDN>
<serviceList><service>
<serviceType>${SERVICE}</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<controlURL>/ctl/IPConn</controlURL>
<eventSubURL>/evt/IPConn</eventSubURL>
<SCPDURL>/WANIPCn.xml</SCPDURL>
</service></serviceList>
</device></deviceList>
</device></deviceList>
</device>
</root>`;
}

const envelope = (body: string) =>
  `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>${body}</s:Body></s:Envelope>`;

const soapFault = (code: string) =>
  envelope(
    `<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode><errorDescription>${FAULT_TEXT[code] ?? 'Error'}</errorDescription></UPnPError></detail></s:Fault>`,
  );

const mappings = new Map<string, Record<string, string>>();

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const send = (status: number, body: string) => {
      res.writeHead(status, { 'Content-Type': 'text/xml; charset="utf-8"', Connection: 'close' });
      res.end(body);
    };
    if (req.method === 'GET' && req.url === '/rootDesc.xml') return send(200, rootDescription());
    if (req.method === 'GET' && req.url === '/WANIPCn.xml') return send(200, '<?xml version="1.0"?><scpd xmlns="urn:schemas-upnp-org:service-1-0"></scpd>');
    if (req.method !== 'POST' || req.url !== '/ctl/IPConn') return send(404, '');
    const text = Buffer.concat(chunks).toString('utf8');
    const header = String(req.headers['soapaction'] ?? '').replace(/"/g, '');
    const action = header.split('#')[1] ?? '';
    const args: Record<string, string> = {};
    for (const m of text.matchAll(/<(New\w+)>([^<]*)<\/\1>/g)) args[m[1]!] = m[2]!;
    const key = `${args['NewExternalPort']}/${args['NewProtocol']}`;
    let status = 200;
    let body: string;
    if (action === garbage) {
      body = 'this is not XML <<<';
    } else if (action === 'AddPortMapping') {
      if (fault) {
        status = 500;
        body = soapFault(fault);
      } else {
        mappings.set(key, args);
        body = envelope(`<u:AddPortMappingResponse xmlns:u="${SERVICE}"></u:AddPortMappingResponse>`);
      }
    } else if (action === 'DeletePortMapping') {
      if (mappings.delete(key)) body = envelope(`<u:DeletePortMappingResponse xmlns:u="${SERVICE}"></u:DeletePortMappingResponse>`);
      else {
        status = 500;
        body = soapFault('714');
      }
    } else if (action === 'GetExternalIPAddress') {
      body = envelope(`<u:GetExternalIPAddressResponse xmlns:u="${SERVICE}"><NewExternalIPAddress>${externalIp}</NewExternalIPAddress></u:GetExternalIPAddressResponse>`);
    } else {
      status = 500;
      body = soapFault('401');
    }
    out({ event: 'soap', action, args, status, mappings: mappings.size });
    send(status, body);
  });
});

server.listen(0, addr, () => {
  const port = (server.address() as { port: number }).port;
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  sock.on('error', (e) => fail(`ssdp socket: ${e.message}`));
  sock.on('message', (msg, rinfo) => {
    const text = msg.toString('utf8');
    if (!text.startsWith('M-SEARCH')) return;
    const st = /^ST:\s*(.*)$/im.exec(text)?.[1]?.trim() ?? '';
    out({ event: 'msearch', st, from: `${rinfo.address}:${rinfo.port}` });
    if (st !== IGD_ST && st !== 'ssdp:all') return;
    const reply =
      'HTTP/1.1 200 OK\r\n' +
      'CACHE-CONTROL: max-age=120\r\n' +
      `ST: ${IGD_ST}\r\n` +
      `USN: uuid:00000000-0000-0000-0000-000000000001::${IGD_ST}\r\n` +
      'EXT:\r\n' +
      'SERVER: Linux UPnP/1.1 wotrelay-test-igd/1\r\n' +
      `LOCATION: http://${addr}:${port}/rootDesc.xml\r\n` +
      '\r\n';
    sock.send(reply, rinfo.port, rinfo.address);
  });
  sock.bind(1900, '0.0.0.0', () => {
    sock.addMembership('239.255.255.250', addr);
    out({ event: 'ready', http: port });
  });
});

const shutdown = () => process.exit(0);
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('end', shutdown);
process.stdin.resume();
