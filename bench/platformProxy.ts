/**
 * What the platform's signalling proxy adds to a request, with caps in a real
 * Redis (issue 5's figure: under 2 ms p99 on loopback). The same dial request
 * is timed straight to a minimal provider and through the platform (auth,
 * rate limit, allowlists, one Lua reservation, the provider call), one at a
 * time on keep-alive connections; the figure is the difference of the
 * percentiles. Starts its own redis-server on a free port.
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
import { HEADER_DEPLOYMENT, PLATFORM_PATHS } from '../src/wire/platformApi.js';
import { startRedisServer } from '../test/helpers/redisServer.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '2000' }, json: { type: 'boolean', default: false } } });
const REQUESTS = Number(values.requests);
const WARMUP = 300;
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
  const platform = new PlatformServer({
    providerBaseUrl: `http://127.0.0.1:${providerPort}`,
    providerApiKey: KEY,
    connectionId: 'bench',
    webhookPublicKeyBase64: null,
    adminToken: null,
    logger: createLogger('bench', 'silent'),
    redisUrl: redis.url,
    rateLimit: { ratePerSec: 1e6, burst: 1e6 },
  });
  await platform.deployments.register({
    id: 'bench-dep', numbers: ['+15559990000'], tunnelHost: TUNNEL, agentSecret: SECRET,
    caps: { dayMinutes: 44_640, monthMinutes: 44_640 }, recording: false,
  });
  const { port } = await platform.start();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const body = (i: number) => JSON.stringify({ to: '+15551234567', stream_url: `wss://${TUNNEL}/v1/media/bench-${i}-abcdefgh`, stream_auth_token: 'a'.repeat(43) });
  const direct: number[] = [];
  const proxied: number[] = [];
  const gatewayHeaders = { authorization: `Bearer ${SECRET}`, [HEADER_DEPLOYMENT]: 'bench-dep' };
  // Dial reserves a minute each: stay under the cap by keeping the run short.
  const total = Math.min(REQUESTS, 40_000);
  for (let i = 0; i < WARMUP + total; i++) {
    // Alternate, so drift on a shared machine hits both sides.
    let t = performance.now();
    const a = await post(agent, providerPort, '/v2/calls', body(i), { authorization: `Bearer ${KEY}` });
    const directMs = performance.now() - t;
    t = performance.now();
    const b = await post(agent, port, PLATFORM_PATHS.dial, body(i), gatewayHeaders);
    const proxiedMs = performance.now() - t;
    if (a !== 200 || b !== 200) throw new Error(`unexpected status ${a}/${b} at request ${i}`);
    if (i >= WARMUP) {
      direct.push(directMs);
      proxied.push(proxiedMs);
    }
  }
  agent.destroy();
  await platform.stop();
  provider.close();
  await redis.stop();
  direct.sort((x, y) => x - y);
  proxied.sort((x, y) => x - y);
  const summary = {
    requests: total,
    cpus: cpus().length,
    node: process.version,
    directMs: { p50: percentile(direct, 50), p99: percentile(direct, 99) },
    proxiedMs: { p50: percentile(proxied, 50), p99: percentile(proxied, 99) },
    addedMs: { p50: percentile(proxied, 50) - percentile(direct, 50), p99: percentile(proxied, 99) - percentile(direct, 99) },
  };
  if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    const f = (x: number) => x.toFixed(3);
    process.stdout.write(
      `platform proxy, ${total} dials with Redis caps: direct p50 ${f(summary.directMs.p50)} p99 ${f(summary.directMs.p99)} ms; ` +
        `through the platform p50 ${f(summary.proxiedMs.p50)} p99 ${f(summary.proxiedMs.p99)} ms; ` +
        `added p50 ${f(summary.addedMs.p50)} p99 ${f(summary.addedMs.p99)} ms\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/platformProxy failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
