/**
 * PlatformServer.stop() finishes in bounded time whatever its peers do. node's
 * `server.close()` waits for every socket, and a socket handed to the
 * 'upgrade' event is no longer one `closeAllConnections()` destroys: a control
 * upgrade still being checked when the platform stops, or a refused upgrade
 * whose client never closes its side, used to hold stop() forever (a CI run
 * hung on one). Real platform on loopback, real `ws` and raw TCP clients, and
 * the real gateway reconnecting to a platform restarted on the same port.
 */
import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { CONTROL_PATH } from '../../src/wire/controlChannel.js';
import { NUMBER, TUNNEL_HOST, startStack } from '../helpers/stack.js';
import { agentHeaders, startHarness, waitFor } from './helpers.js';

const DEP = { id: 'stop-dep', numbers: ['+15557770901'], tunnelHost: 'stop.trycloudflare.com' };
/** The platform's grace (1 s) and some slack for a loaded machine. */
const BOUND_MS = 4_000;

describe('platform stop is bounded', () => {
  it('completes while a control upgrade is under way, and cuts that client rather than leaving it waiting', { timeout: 20_000 }, async () => {
    const h = await startHarness();
    const client: { ws?: WebSocket } = {};
    try {
      const secret = (await h.platform.deployments.register(DEP)).agentSecret;
      // Hold the upgrade in its identity check (as a slow store would) until the stop has begun.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let entered!: () => void;
      const inCheck = new Promise<void>((resolve) => (entered = resolve));
      const registry = h.platform.deployments;
      const authenticate = registry.authenticate.bind(registry);
      registry.authenticate = async (id, presented) => {
        entered();
        await gate;
        return authenticate(id, presented);
      };
      // A client with no handshake timeout of its own (ws's default).
      const ws = new WebSocket(`${h.base.replace(/^http/, 'ws')}${CONTROL_PATH}`, { headers: agentHeaders(DEP.id, secret) });
      client.ws = ws;
      ws.on('error', () => undefined);
      const ended = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      await inCheck;
      const stopped = h.platform.stop();
      release();
      await withinMs(stopped, BOUND_MS, 'stop() with an upgrade under way');
      await withinMs(ended, BOUND_MS, 'the client cut');
      assert.notEqual(ws.readyState, WebSocket.OPEN, 'never registered by a stopping platform');
      // The hub cut it itself: the stop's grace had nothing left to destroy.
      assert.ok(!h.lines.some((l) => l.includes('still open after the stop grace')), 'not left for the grace');
    } finally {
      client.ws?.terminate();
      await h.close();
    }
  });

  it('completes when the client gave up its handshake during the check (the gateway\'s ControlChannel does after 5 s)', { timeout: 20_000 }, async () => {
    const h = await startHarness();
    try {
      const secret = (await h.platform.deployments.register(DEP)).agentSecret;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const registry = h.platform.deployments;
      const authenticate = registry.authenticate.bind(registry);
      registry.authenticate = async (id, presented) => {
        await gate;
        return authenticate(id, presented);
      };
      // ws's handshakeTimeout, as ControlChannel sets it: the client closes its socket; the platform's end is only half closed.
      const ws = new WebSocket(`${h.base.replace(/^http/, 'ws')}${CONTROL_PATH}`, { headers: agentHeaders(DEP.id, secret), handshakeTimeout: 200 });
      ws.on('error', () => undefined);
      await withinMs(new Promise<void>((resolve) => ws.once('close', () => resolve())), BOUND_MS, 'the client giving up');
      const stopped = h.platform.stop();
      release();
      await withinMs(stopped, BOUND_MS, 'stop() after the client gave up');
      assert.ok(!h.lines.some((l) => l.includes('still open after the stop grace')), 'not left for the grace');
    } finally {
      await h.close();
    }
  });

  it('a platform restarted on the same port stops while the real gateway\'s reconnect is in its identity check', { timeout: 30_000 }, async () => {
    const stack = await startStack({ workers: 1 });
    let next: PlatformServer | undefined;
    try {
      await waitFor('the gateway connected', () => stack.platform.control.connections('test') === 1, 5_000);
      await stack.platform.stop();
      // The next process on the same port (as settlementResume.test.ts restarts it), its identity check held.
      next = new PlatformServer(stack.platformOptions);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let entered!: () => void;
      const inCheck = new Promise<void>((resolve) => (entered = resolve));
      const registry = next.deployments;
      const authenticate = registry.authenticate.bind(registry);
      registry.authenticate = async (id, presented) => {
        entered();
        await gate;
        return authenticate(id, presented);
      };
      await next.start();
      await next.deployments.register({ id: 'test', numbers: [NUMBER], tunnelHost: TUNNEL_HOST, agentSecret: stack.agentSecret });
      await withinMs(inCheck, 10_000, 'the gateway reconnecting');
      const stopped = next.stop();
      release();
      // Past the ControlChannel's own 5 s handshake timeout: giving up left the platform's end half open.
      await withinMs(stopped, BOUND_MS, 'stop() during the gateway\'s reconnect');
    } finally {
      await next?.stop();
      await stack.stop();
    }
  });

  it('completes while a client holds a refused upgrade open (never closes its side), and logs the cut', { timeout: 20_000 }, async () => {
    const h = await startHarness();
    let socket: Socket | undefined;
    try {
      const port = Number(new URL(h.base).port);
      const raw = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true });
      socket = raw;
      raw.on('error', () => undefined);
      let answer = '';
      raw.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
      await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
      raw.write(
        'GET /v1/no-such-path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      await waitFor('the refusal', () => answer.startsWith('HTTP/1.1 404'), 3_000);
      await withinMs(h.platform.stop(), BOUND_MS, 'stop() with a refused upgrade held open');
      assert.ok(h.lines.some((l) => l.includes('still open after the stop grace')), 'the cut is logged');
    } finally {
      socket?.destroy();
      await h.close();
    }
  });
});

function withinMs<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
