/**
 * Run by httpRoutes.test.ts in a process of its own, since what it guards
 * against is uWS.js terminating the process. Like a media worker, it keeps
 * an `uncaughtException` listener (which is what turns a handler's throw
 * into uWS's abort instead of node's exit). It serves the real front, local
 * and tunnel listeners, with dependencies that fail the way a bug would, plus
 * two bare guarded routes, asks each once, then checks the process still
 * answers, and prints what it saw as one JSON line.
 */
import WebSocket from 'ws';
import type { ControlActor } from '../../src/actors/ControlActor.js';
import type { DashboardFeed } from '../../src/control/DashboardFeed.js';
import type { WebhookGate } from '../../src/control/WebhookGate.js';
import { GatewayFront } from '../../src/front/GatewayFront.js';
import { guardedRoutes } from '../../src/front/httpRoutes.js';
import { LocalOperatorAuth } from '../../src/front/LocalOperatorAuth.js';
import { uws } from '../../src/front/uws.js';
import { createLogger } from '../../src/log.js';
import { signedLocal } from '../helpers/localAuth.js';

const SECRET = 'a'.repeat(43);

if (process.argv[2] === '--child') await main();

interface Seen {
  status: number;
  body: string;
}

async function get(url: string): Promise<Seen> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
}

/** The status a media upgrade is refused with. */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('error', reject);
  });
}

async function main(): Promise<void> {
  const uncaught: string[] = [];
  process.on('uncaughtException', (err) => uncaught.push(err.message));
  const failures: string[] = [];

  const control = {
    authorizeMedia: () => {
      throw new Error('a media verdict that throws');
    },
    recentCalls: () => {
      throw new Error('a call list that throws');
    },
  } as unknown as ControlActor;
  const front = new GatewayFront({
    host: '127.0.0.1',
    tunnelPort: 0,
    localPort: 0,
    tunnelListener: true,
    control,
    webhooks: {} as WebhookGate,
    log: createLogger('child', 'silent'),
    status: () => {
      throw new Error('a status source that throws');
    },
    readiness: () => ({ ready: true, reasons: [] }),
    localAuth: new LocalOperatorAuth(SECRET),
    latency: () => ({}),
    resetLatency: () => {},
    // A body uWS.js refuses (not text or bytes): its end() throws inside the promise's callback.
    metrics: () => Promise.resolve({ contentType: 'text/plain', body: 42 as unknown as string }),
    dashboard: {} as DashboardFeed,
    webhookReadTimeoutMs: 1_000,
    mediaFramesPerSecond: 100,
    mediaFrameBurst: 100,
  });
  const ports = await front.start();
  const local = `http://127.0.0.1:${ports.localPort}`;

  const app = uws.App();
  guardedRoutes(app, (err) => failures.push(err instanceof Error ? err.message : String(err)))
    .get('/throws', () => {
      throw new Error('thrown synchronously');
    })
    .get('/rejects', async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      throw new Error('rejected later');
    });
  const bare = await new Promise<number>((resolve, reject) => app.listen('127.0.0.1', 0, (s) => (s ? resolve(uws.us_socket_local_port(s)) : reject(new Error('cannot listen')))));

  const seen = {
    status: await get(`${local}/debug/status`),
    // Its 200 status line was written before the throw: the answer is cut, not completed.
    metrics: await get(`${local}/metrics`).catch((err: Error) => ({ status: 0, body: err.message })),
    callList: await signedLocal(ports.localPort, SECRET, 'GET', '/v1/local/calls?recent=5').then((r) => ({ status: r.status, body: r.bytes.toString('utf8') })),
    mediaUpgrade: await upgradeStatus(`ws://127.0.0.1:${ports.tunnelPort}/v1/media/v3:call-1?token=t`),
    throws: await get(`http://127.0.0.1:${bare}/throws`),
    rejects: await get(`http://127.0.0.1:${bare}/rejects`),
    // Still serving after all of it.
    healthz: (await get(`${local}/healthz`)).status,
  };
  process.stdout.write(`${JSON.stringify({ seen, failures, uncaught })}\n`);
  front.closeListeners();
  front.closeAllSockets();
  process.exit(0);
}
