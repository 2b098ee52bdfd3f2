/**
 * The floor under the platform's dial figure: a server with the dial's I/O
 * shape and none of its checks. Per request it reads the body and parses it,
 * runs one Lua reservation in Redis, sends the provider its dial through the
 * platform's own transport, runs a second Lua script in Redis (the place of
 * the call lock) and answers: the same eight crossings between processes
 * (client, platform, Redis, provider) as a real dial, with the same client
 * libraries. What the real platform adds above this row is its own code
 * (authentication, rate limit, allowlists, records, logging); what this row
 * adds above the direct provider call is the machine's cost of the crossings.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nodeHttpTransport } from '../src/platform/providerTransport.js';
import { periodOf } from '../src/platform/store/CapStore.js';
import { RedisCapStore } from '../src/platform/store/RedisCapStore.js';
import type { PlatformTarget } from './platformTargets.js';

const LIMITS = { day: 1e12, month: 1e12 };

export interface Skeleton {
  target: PlatformTarget;
  stop(): Promise<void>;
}

export async function startSkeleton(redisUrl: string, providerPort: number, providerKey: string): Promise<Skeleton> {
  const store = new RedisCapStore({ url: redisUrl, prefix: 'skeleton' });
  await store.ready();
  const base = new URL(`http://127.0.0.1:${providerPort}`);
  const dialUrl = new URL('/v2/calls', base);
  const transport = nodeHttpTransport(base, 64 * 1024);
  let n = 0;
  const dial = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
    const body = JSON.parse(raw.toString('utf8')) as { to?: string };
    n += 1;
    await store.reserve('skeleton', `dial-${n}`, 1, LIMITS, periodOf(Date.now()));
    const dialled = await transport.request('POST', dialUrl, { authorization: `Bearer ${providerKey}`, 'content-type': 'application/json' }, JSON.stringify({ to: body.to }), 10_000);
    const callId = (JSON.parse(dialled.text) as { data: { call_control_id: string } }).data.call_control_id;
    await store.reserve('skeleton', `lock-${n}`, 1, LIMITS, periodOf(Date.now()));
    const text = JSON.stringify({ call_control_id: callId });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = createServer((req, res) => {
    dial(req, res).catch((err: unknown) => {
      res.writeHead(500);
      res.end((err as Error).message);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    target: { port: (server.address() as AddressInfo).port, headers: {} },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      transport.close();
      await store.close();
    },
  };
}
