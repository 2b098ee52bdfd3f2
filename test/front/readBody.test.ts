/**
 * Reading request bodies within a shared budget (src/front/readBody.ts,
 * src/front/BodyBudget.ts), on a real uWS server on the loopback with raw TCP
 * clients that send part of a body and hold the rest: past the budget a body
 * is refused `busy` (503) while the others are still arriving, and what a
 * body held comes back when it is read, refused or abandoned.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { BodyBudget } from '../../src/front/BodyBudget.js';
import { readBody, type BodyResult } from '../../src/front/readBody.js';
import { uws, type us_listen_socket } from '../../src/front/uws.js';

const LIMIT = 64 * 1024;
const HELD = 40_000;

describe('readBody within a budget shared by every body being read', { timeout: 30_000 }, () => {
  let listen: us_listen_socket;
  let port: number;
  const budget = new BodyBudget(100_000);
  const results: BodyResult[] = [];

  before(async () => {
    const app = uws.App();
    app.post('/body', (res) => {
      const state = { aborted: false };
      void readBody(res, LIMIT, 10_000, state, budget).then((result) => {
        results.push(result);
        if (state.aborted) return;
        const status = result.ok ? '200 OK' : result.reason === 'busy' ? '503 Service Unavailable' : '413 Payload Too Large';
        res.cork(() => res.writeStatus(status).end(result.ok ? String(result.body.length) : result.reason, !result.ok));
      });
    });
    listen = await new Promise<us_listen_socket>((resolve, reject) => app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('cannot listen')))));
    port = uws.us_socket_local_port(listen);
  });
  after(() => uws.us_listen_socket_close(listen));

  /** Declares `declared` bytes, sends `sent` of them; resolves with the socket and whatever it is answered (if anything). */
  async function partial(declared: number, sent: number): Promise<{ socket: net.Socket; answer: Promise<string> }> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    let text = '';
    const answer = new Promise<string>((resolve) => {
      socket.on('data', (chunk) => {
        text += chunk.toString('latin1');
        if (/\r\n\r\n/.test(text)) resolve(text.split('\r\n')[0] ?? '');
      });
      socket.on('close', () => resolve(text.split('\r\n')[0] ?? ''));
      socket.on('error', () => undefined);
    });
    socket.write(`POST /body HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${declared}\r\n\r\n`);
    socket.write(Buffer.alloc(sent, 0x61));
    return { socket, answer };
  }

  async function heldReaches(bytes: number): Promise<void> {
    for (let i = 0; i < 200 && budget.held !== bytes; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(budget.held, bytes);
  }

  it('refuses a body that would pass the budget, and gives back what abandoned and finished bodies held', async () => {
    // Two bodies held open at 40,000 bytes each: 80,000 of 100,000 held.
    const a = await partial(LIMIT, HELD);
    const b = await partial(LIMIT, HELD);
    await heldReaches(2 * HELD);
    // A third would pass the budget: refused busy at once, the others untouched.
    const c = await partial(LIMIT, HELD);
    assert.equal(await c.answer, 'HTTP/1.1 503 Service Unavailable');
    assert.equal(budget.held, 2 * HELD);
    // A small body still fits beside them, and gives its bytes back once read.
    const small = await partial(1_000, 1_000);
    assert.equal(await small.answer, 'HTTP/1.1 200 OK');
    await heldReaches(2 * HELD);
    // The held bodies' clients go away: what they held comes back, and a large body fits again.
    a.socket.destroy();
    b.socket.destroy();
    await heldReaches(0);
    const d = await partial(60_000, 60_000);
    assert.equal(await d.answer, 'HTTP/1.1 200 OK');
    await heldReaches(0);
    c.socket.destroy();
    small.socket.destroy();
    d.socket.destroy();
    assert.deepEqual(results.map((r) => (r.ok ? 'ok' : r.reason)).sort(), ['aborted', 'aborted', 'busy', 'ok', 'ok']);
  });

  it('refuses a body over its own limit without holding it', async () => {
    const big = await partial(LIMIT + 1, LIMIT + 1);
    assert.equal(await big.answer, 'HTTP/1.1 413 Payload Too Large');
    await heldReaches(0);
    big.socket.destroy();
  });
});

describe('BodyBudget', () => {
  it('takes up to its bytes and never below zero', () => {
    const budget = new BodyBudget(10);
    assert.equal(budget.take(6), true);
    assert.equal(budget.take(5), false);
    assert.equal(budget.held, 6);
    assert.equal(budget.take(4), true);
    budget.give(20);
    assert.equal(budget.held, 0);
    assert.throws(() => new BodyBudget(0), RangeError);
  });
});
