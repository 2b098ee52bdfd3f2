/**
 * What the platform's signalling proxy adds to a request, with caps in a real
 * Redis (issue 5's figure: under 2 ms p99 on loopback). The same dial request
 * is timed straight to a minimal provider and through the platform (auth,
 * rate limit, allowlists, one Lua reservation, the provider call), one at a
 * time on keep-alive connections; the figure is the difference of the
 * percentiles. Two platforms run side by side, alternating request by
 * request: the current one (deployments and call records in Redis too) and a
 * baseline: `--baseline memory` (default) keeps deployments and call records
 * in process, as before they moved to Redis; `--baseline fetch` uses the
 * previous fetch/undici provider client; `--baseline journal` runs it with no
 * Redis at all, on the embedded store journaled to a state directory. A bare Lua reservation against the
 * same Redis is timed too, for the Redis share of the figure, and so is a
 * skeleton (bench/platformSkeleton.ts) with the dial's I/O and none of its
 * checks: the floor the crossings between processes set on this machine.
 * The platforms run in a child process of their own (`bench/platformHost.ts`),
 * as `ttma platform` runs beside its gateways; `--same-process` runs them in
 * this one, beside the client and the fake provider, as runs before the
 * ninth session did.
 * Starts its own redis-server on a free port. With `--pin` (and taskset), the
 * redis-server runs on core 1 and this process (and the platforms') on core 0,
 * as the media bench pins its two sides: on a small VM a shared core puts the
 * scheduler in the tail.
 *
 *   node dist/bench/platformProxy.js [--requests 2000] [--baseline memory|fetch|journal] [--same-process] [--pin] [--json]
 */
import { Agent, createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { periodOf } from '../src/platform/store/CapStore.js';
import { RedisCapStore } from '../src/platform/store/RedisCapStore.js';
import { pinProcess } from './pin.js';
import { PlatformHost } from './platformHostClient.js';
import { BASELINE_KINDS, BENCH_PROVIDER_KEY, BENCH_TUNNEL, baselineName, startPlatformTargets, type BaselineKind } from './platformTargets.js';
import { PLATFORM_PATHS } from '../src/wire/platformApi.js';
import { startRedisServer } from '../test/helpers/redisServer.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    baseline: { type: 'string', default: 'memory' },
    json: { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
    'same-process': { type: 'boolean', default: false },
  },
});
if (!(BASELINE_KINDS as readonly string[]).includes(values.baseline)) throw new Error(`--baseline must be one of ${BASELINE_KINDS.join(', ')}`);
const BASELINE = baselineName(values.baseline as BaselineKind);
const REQUESTS = Number(values.requests);
if (!Number.isInteger(REQUESTS) || REQUESTS < 1) throw new Error(`--requests must be a positive whole number, not ${values.requests}`);
// Short runs (the smoke test) shrink the warm-up and the CPU blocks with them.
const WARMUP = Math.min(300, REQUESTS);
const CPU_BLOCK = Math.min(500, REQUESTS);
const KEY = BENCH_PROVIDER_KEY;
const TUNNEL = BENCH_TUNNEL;

/** Redis on core 1, this process on core 0; false when that cannot be done here. */
function pinApart(redisPid: number): boolean {
  return cpus().length >= 2 && pinProcess(redisPid, 1) && pinProcess(process.pid, 0);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function post(agent: Agent, port: number, path: string, body: string, headers: Record<string, string>): Promise<number> {
  return postFor(agent, port, path, body, headers).then((r) => r.status);
}

/** The status and the body (the dial's call id, for the hang-up rows). */
function postFor(agent: Agent, port: number, path: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const callIdOf = (body: string): string => (JSON.parse(body) as { call_control_id: string }).call_control_id;

async function main(): Promise<void> {
  const redis = await startRedisServer();
  const pinned = values.pin && pinApart(redis.pid);
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
  const spec = { redisUrl: redis.url, providerPort, baseline: values.baseline as BaselineKind };
  // As deployed, the platform has a process of its own; `--same-process` puts it in this one, as runs before the ninth session did.
  const host = values['same-process'] ? undefined : await PlatformHost.start(spec);
  const local = host ? undefined : await startPlatformTargets(spec);
  const current = (host ?? local)!.current;
  const previous = (host ?? local)!.previous;
  const skeleton = (host ?? local)!.skeleton;
  if (host && pinned) pinProcess(host.pid, 0);
  const platformCpuUs = async (): Promise<number> => (host ? host.cpuUs() : 0);
  const store = new RedisCapStore({ url: redis.url, prefix: 'bench' });
  await store.ready();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const body = (i: number) => JSON.stringify({ to: '+15551234567', stream_url: `wss://${TUNNEL}/v1/media/bench-${i}-abcdefgh`, stream_auth_token: 'a'.repeat(43) });
  const rows = { direct: [] as number[], redis: [] as number[], skeleton: [] as number[], previous: [] as number[], current: [] as number[] };
  // Hang-ups of the calls just dialled: authentication plus the ownership check on every request.
  const hangups = { direct: [] as number[], previous: [] as number[], current: [] as number[] };
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
    const s = await post(agent, skeleton.port, '/v2/calls', body(i), {});
    const skeletonMs = performance.now() - t;
    t = performance.now();
    const b = await postFor(agent, previous.port, PLATFORM_PATHS.dial, body(i), previous.headers);
    const previousMs = performance.now() - t;
    t = performance.now();
    const c = await postFor(agent, current.port, PLATFORM_PATHS.dial, body(i), current.headers);
    const currentMs = performance.now() - t;
    if (a !== 200 || s !== 200 || b.status !== 200 || c.status !== 200) throw new Error(`unexpected status ${a}/${s}/${b.status}/${c.status} at request ${i}`);
    t = performance.now();
    const d = await post(agent, providerPort, `/v2/calls/${encodeURIComponent(callIdOf(c.body))}/actions/hangup`, '{}', { authorization: `Bearer ${KEY}` });
    const hangDirectMs = performance.now() - t;
    t = performance.now();
    const e = await post(agent, previous.port, PLATFORM_PATHS.hangup(callIdOf(b.body)), '{}', previous.headers);
    const hangPreviousMs = performance.now() - t;
    t = performance.now();
    const f = await post(agent, current.port, PLATFORM_PATHS.hangup(callIdOf(c.body)), '{}', current.headers);
    const hangCurrentMs = performance.now() - t;
    if (d !== 200 || e !== 200 || f !== 200) throw new Error(`unexpected hang-up status ${d}/${e}/${f} at request ${i}`);
    if (i >= WARMUP) {
      rows.direct.push(directMs);
      rows.redis.push(redisMs);
      rows.skeleton.push(skeletonMs);
      rows.previous.push(previousMs);
      rows.current.push(currentMs);
      hangups.direct.push(hangDirectMs);
      hangups.previous.push(hangPreviousMs);
      hangups.current.push(hangCurrentMs);
    }
  }
  // CPU time per request, each path in its own block: what this process (client, platform and
  // provider alike) spends; the platform's share is a path's figure minus the direct one's.
  // Unlike wall-clock percentiles, it hardly moves with other processes' load.
  const cpuBlock = async (run: (i: number) => Promise<unknown>): Promise<number> => {
    const hostBefore = await platformCpuUs();
    const before = process.cpuUsage();
    for (let i = 0; i < CPU_BLOCK; i++) await run(i);
    const used = process.cpuUsage(before);
    const hostUsed = (await platformCpuUs()) - hostBefore;
    return (used.user + used.system + hostUsed) / CPU_BLOCK;
  };
  const cpuUs = { direct: 0, redis: 0, skeleton: 0, previous: 0, current: 0 };
  for (let round = 0; round < 2; round++) {
    // Two rounds, alternating order, keep the lower figure of each (the less disturbed one).
    const order = round === 0 ? (['direct', 'redis', 'skeleton', 'previous', 'current'] as const) : (['current', 'previous', 'skeleton', 'redis', 'direct'] as const);
    for (const row of order) {
      const us = await cpuBlock((i) => {
        const n = 100_000 + round * CPU_BLOCK + i;
        if (row === 'direct') return post(agent, providerPort, '/v2/calls', body(n), { authorization: `Bearer ${KEY}` });
        if (row === 'redis') return store.reserve('bench-redis', `c-${n}`, 1, limits, periodOf(Date.now()));
        if (row === 'skeleton') return post(agent, skeleton.port, '/v2/calls', body(n), {});
        const target = row === 'previous' ? previous : current;
        return post(agent, target.port, PLATFORM_PATHS.dial, body(n), target.headers);
      });
      cpuUs[row] = round === 0 ? us : Math.min(cpuUs[row], us);
    }
  }
  agent.destroy();
  await (host ?? local)!.stop();
  await store.close();
  provider.close();
  await redis.stop();
  for (const row of [...Object.values(rows), ...Object.values(hangups)]) row.sort((x, y) => x - y);
  const pct = (row: number[]) => ({ p50: percentile(row, 50), p99: percentile(row, 99) });
  const added = (row: number[]) => ({ p50: percentile(row, 50) - percentile(rows.direct, 50), p99: percentile(row, 99) - percentile(rows.direct, 99) });
  const summary = {
    requests: total,
    cpus: cpus().length,
    node: process.version,
    pinned,
    platformProcess: host ? 'own' : 'same',
    directMs: pct(rows.direct),
    redisReserveMs: pct(rows.redis),
    /** The dial's I/O with none of its checks (bench/platformSkeleton.ts): what the crossings alone add. */
    skeleton: { proxiedMs: pct(rows.skeleton), addedMs: added(rows.skeleton) },
    proxiedMs: pct(rows.current),
    addedMs: added(rows.current),
    baseline: BASELINE,
    previous: { proxiedMs: pct(rows.previous), addedMs: added(rows.previous) },
    hangup: { directMs: pct(hangups.direct), previousMs: pct(hangups.previous), currentMs: pct(hangups.current) },
    cpuUsPerRequest: cpuUs,
    platformCpuUs: { skeleton: cpuUs.skeleton - cpuUs.direct, previous: cpuUs.previous - cpuUs.direct, current: cpuUs.current - cpuUs.direct },
  };
  if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    const f = (x: number) => x.toFixed(3);
    const line = (name: string, p: { p50: number; p99: number }) => `  ${name.padEnd(38)} p50 ${f(p.p50).padStart(7)}  p99 ${f(p.p99).padStart(7)} ms\n`;
    process.stdout.write(
      `platform proxy, ${total} dials with Redis caps (${cpus().length} cpus, node ${process.version}; ` +
          `platforms in ${host ? 'a process of their own' : 'this process'}${pinned ? '; redis-server on core 1, the rest on core 0' : ''})\n` +
        line('provider direct', summary.directMs) +
        line('Redis Lua reservation alone', summary.redisReserveMs) +
        line('skeleton (same I/O, no checks)', summary.skeleton.proxiedMs) +
        line(`through the platform, ${BASELINE}`, summary.previous.proxiedMs) +
        line('through the platform, now', summary.proxiedMs) +
        line('added by the skeleton', summary.skeleton.addedMs) +
        line(`added by the platform, ${BASELINE}`, summary.previous.addedMs) +
        line('added by the platform, now', summary.addedMs) +
        `  CPU per request, ${host ? 'this process and the platforms\'' : 'this process'} (us): direct ${cpuUs.direct.toFixed(0)}, Redis reservation ${cpuUs.redis.toFixed(0)}, ` +
        `skeleton ${cpuUs.skeleton.toFixed(0)}, through the platform (${BASELINE}) ${cpuUs.previous.toFixed(0)}, now ${cpuUs.current.toFixed(0)}; ` +
        `above direct: skeleton ${summary.platformCpuUs.skeleton.toFixed(0)}, ${BASELINE} ${summary.platformCpuUs.previous.toFixed(0)}, now ${summary.platformCpuUs.current.toFixed(0)}\n` +
        line(`hang-up (ownership check) direct`, summary.hangup.directMs) +
        line(`hang-up through the platform, ${BASELINE}`, summary.hangup.previousMs) +
        line('hang-up through the platform, now', summary.hangup.currentMs),
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/platformProxy failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
