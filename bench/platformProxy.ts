/**
 * What the platform's signalling proxy adds to a request, with caps in a real
 * Redis (issue 5's figure: under 2 ms p99 on loopback). The same dial request
 * is timed straight to a minimal provider and through the platform (auth,
 * rate limit, allowlists, one Lua reservation, the provider call), one at a
 * time on keep-alive connections; the figure is the difference of the
 * percentiles. Two platforms run side by side, alternating request by
 * request: the current one (provider requests over node:http keep-alive) and
 * one with the previous fetch/undici provider client. A bare Lua reservation
 * against the same Redis is timed too, for the Redis share of the figure.
 * Starts its own redis-server on a free port.
 *
 *   node dist/bench/platformProxy.js [--requests 2000] [--json]
 */
import { Agent, createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/log.js';
import { PlatformServer } from '../src/platform/PlatformServer.js';
import { periodOf } from '../src/platform/store/CapStore.js';
import { RedisCapStore } from '../src/platform/store/RedisCapStore.js';
import { fetchTransport } from './fetchTransport.js';
import { HEADER_DEPLOYMENT, PLATFORM_PATHS } from '../src/wire/platformApi.js';
import { startRedisServer } from '../test/helpers/redisServer.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '2000' }, json: { type: 'boolean', default: false } } });
const REQUESTS = Number(values.requests);
const WARMUP = 300;
const CPU_BLOCK = 500;
const KEY = 'KEYbench-provider-key-0123456789';
const SECRET = 'b'.repeat(40);
const TUNNEL = 'bench.trycloudflare.com';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function post(agent: Agent, port: number, path: string, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res: IncomingMessage) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  const redis = await startRedisServer();
  let n = 0;
  const provider = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n += 1;
      const text = JSON.stringify({ data: { call_control_id: `v3:bench-${n}`, call_session_id: `s-${n}`, call_leg_id: `l-${n}` } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
  const providerPort = (provider.address() as AddressInfo).port;
  const startPlatform = async (old: boolean) => {
    const platform = new PlatformServer({
      providerBaseUrl: `http://127.0.0.1:${providerPort}`,
      providerApiKey: KEY,
      connectionId: 'bench',
      webhookPublicKeyBase64: null,
      adminToken: null,
      logger: createLogger('bench', 'silent'),
      redisUrl: redis.url,
      rateLimit: { ratePerSec: 1e6, burst: 1e6 },
      ...(old ? { provider: { transport: fetchTransport } } : {}),
    });
    // Each platform its own deployment (own Redis keys), so the two never share a counter.
    await platform.deployments.register({
      id: old ? 'bench-old' : 'bench-new', numbers: [old ? '+15559990001' : '+15559990000'], tunnelHost: TUNNEL, agentSecret: SECRET,
      caps: { dayMinutes: 44_640, monthMinutes: 44_640 }, recording: false,
    });
    const { port } = await platform.start();
    return { platform, port, headers: { authorization: `Bearer ${SECRET}`, [HEADER_DEPLOYMENT]: old ? 'bench-old' : 'bench-new' } };
  };
  const current = await startPlatform(false);
  const previous = await startPlatform(true);
  const store = new RedisCapStore({ url: redis.url, prefix: 'bench' });
  await store.ready();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const body = (i: number) => JSON.stringify({ to: '+15551234567', stream_url: `wss://${TUNNEL}/v1/media/bench-${i}-abcdefgh`, stream_auth_token: 'a'.repeat(43) });
  const rows = { direct: [] as number[], redis: [] as number[], previous: [] as number[], current: [] as number[] };
  // Dial reserves a minute each: stay under the cap by keeping the run short.
  const total = Math.min(REQUESTS, 40_000);
  const limits = { day: 1e9, month: 1e9 };
  for (let i = 0; i < WARMUP + total; i++) {
    // Interleaved, so drift on a shared machine hits every row alike.
    let t = performance.now();
    const a = await post(agent, providerPort, '/v2/calls', body(i), { authorization: `Bearer ${KEY}` });
    const directMs = performance.now() - t;
    t = performance.now();
    await store.reserve('bench-redis', `r-${i}`, 1, limits, periodOf(Date.now()));
    const redisMs = performance.now() - t;
    t = performance.now();
    const b = await post(agent, previous.port, PLATFORM_PATHS.dial, body(i), previous.headers);
    const previousMs = performance.now() - t;
    t = performance.now();
    const c = await post(agent, current.port, PLATFORM_PATHS.dial, body(i), current.headers);
    const currentMs = performance.now() - t;
    if (a !== 200 || b !== 200 || c !== 200) throw new Error(`unexpected status ${a}/${b}/${c} at request ${i}`);
    if (i >= WARMUP) {
      rows.direct.push(directMs);
      rows.redis.push(redisMs);
      rows.previous.push(previousMs);
      rows.current.push(currentMs);
    }
  }
  // CPU time per request, each path in its own block: what this process (client, platform and
  // provider alike) spends; the platform's share is a path's figure minus the direct one's.
  // Unlike wall-clock percentiles, it hardly moves with other processes' load.
  const cpuBlock = async (run: (i: number) => Promise<unknown>): Promise<number> => {
    const before = process.cpuUsage();
    for (let i = 0; i < CPU_BLOCK; i++) await run(i);
    const used = process.cpuUsage(before);
    return (used.user + used.system) / CPU_BLOCK;
  };
  const cpuUs = { direct: 0, redis: 0, previous: 0, current: 0 };
  for (let round = 0; round < 2; round++) {
    // Two rounds, alternating order, keep the lower figure of each (the less disturbed one).
    const order = round === 0 ? (['direct', 'redis', 'previous', 'current'] as const) : (['current', 'previous', 'redis', 'direct'] as const);
    for (const row of order) {
      const us = await cpuBlock((i) => {
        const n = 100_000 + round * CPU_BLOCK + i;
        if (row === 'direct') return post(agent, providerPort, '/v2/calls', body(n), { authorization: `Bearer ${KEY}` });
        if (row === 'redis') return store.reserve('bench-redis', `c-${n}`, 1, limits, periodOf(Date.now()));
        const target = row === 'previous' ? previous : current;
        return post(agent, target.port, PLATFORM_PATHS.dial, body(n), target.headers);
      });
      cpuUs[row] = round === 0 ? us : Math.min(cpuUs[row], us);
    }
  }
  agent.destroy();
  await current.platform.stop();
  await previous.platform.stop();
  await store.close();
  provider.close();
  await redis.stop();
  for (const row of Object.values(rows)) row.sort((x, y) => x - y);
  const pct = (row: number[]) => ({ p50: percentile(row, 50), p99: percentile(row, 99) });
  const added = (row: number[]) => ({ p50: percentile(row, 50) - percentile(rows.direct, 50), p99: percentile(row, 99) - percentile(rows.direct, 99) });
  const summary = {
    requests: total,
    cpus: cpus().length,
    node: process.version,
    directMs: pct(rows.direct),
    redisReserveMs: pct(rows.redis),
    proxiedMs: pct(rows.current),
    addedMs: added(rows.current),
    previousFetch: { proxiedMs: pct(rows.previous), addedMs: added(rows.previous) },
    cpuUsPerRequest: cpuUs,
    platformCpuUs: { previous: cpuUs.previous - cpuUs.direct, current: cpuUs.current - cpuUs.direct },
  };
  if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    const f = (x: number) => x.toFixed(3);
    const line = (name: string, p: { p50: number; p99: number }) => `  ${name.padEnd(38)} p50 ${f(p.p50).padStart(7)}  p99 ${f(p.p99).padStart(7)} ms\n`;
    process.stdout.write(
      `platform proxy, ${total} dials with Redis caps (${cpus().length} cpus, node ${process.version})\n` +
        line('provider direct', summary.directMs) +
        line('Redis Lua reservation alone', summary.redisReserveMs) +
        line('through the platform, fetch (before)', summary.previousFetch.proxiedMs) +
        line('through the platform, node:http (now)', summary.proxiedMs) +
        line('added by the platform, before', summary.previousFetch.addedMs) +
        line('added by the platform, now', summary.addedMs) +
        `  CPU per request in this process (us): direct ${cpuUs.direct.toFixed(0)}, Redis reservation ${cpuUs.redis.toFixed(0)}, ` +
        `through the platform before ${cpuUs.previous.toFixed(0)}, now ${cpuUs.current.toFixed(0)}; ` +
        `the platform's own: before ${summary.platformCpuUs.previous.toFixed(0)}, now ${summary.platformCpuUs.current.toFixed(0)}\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/platformProxy failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
