/**
 * The gateway's signalling client on its own, against plain HTTP servers on
 * loopback that answer as a platform would (or would not):
 * - the live-call list keeps only well-formed answered calls and inbound
 *   calls ringing for under two minutes (an older platform that ignores
 *   `live=1` lists recent calls of any state);
 * - a request whose connection was refused is sent again until the platform
 *   listens (a restart), within 5 s; a request that reached a server that
 *   then failed is not sent again;
 * - an answer the platform holds as pending (the call's call.initiated not
 *   yet there) is asked again, for up to 8 s.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { SignallingClient } from '../../src/control/SignallingClient.js';
import { isTtmaError } from '../../src/errors.js';
import { freePorts } from '../../src/cli/processes.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function listen(handler: Parameters<typeof createServer>[1], port = 0): Promise<Server> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

const client = (port: number) => new SignallingClient({ platformUrl: `http://127.0.0.1:${port}`, deploymentId: 'dep-test', agentSecret: 'secret-0123456789abcdef' });

test('the live-call list keeps only well-formed answered calls and recently ringing inbound ones', async () => {
  const good = { call_control_id: 'v3:live-1', direction: 'incoming', from: '+15550000001', to: '+15550000002', state: 'answered', started_at: '2030-01-01T00:00:00Z', answered_at: '2030-01-01T00:00:01Z' };
  const calls = [
    good,
    { ...good, call_control_id: 'v3:ended', state: 'ended' },
    { ...good, call_control_id: 'v3:ringing', state: 'initiated', started_at: '2030-01-01T00:01:00Z', answered_at: null },
    { ...good, call_control_id: 'v3:ringing-3-min', state: 'initiated', started_at: '2029-12-31T23:59:00Z', answered_at: null },
    { ...good, call_control_id: 'v3:dialling', direction: 'outgoing', state: 'initiated', started_at: '2030-01-01T00:01:00Z', answered_at: null },
    { ...good, call_control_id: 'v3:ringing-when', state: 'initiated', started_at: 'soon', answered_at: null },
    { ...good, call_control_id: '../../etc/passwd' },
    { ...good, call_control_id: 'v3:no-direction', direction: 'sideways' },
    { ...good, call_control_id: 'v3:no-from', from: 7 },
    'not an object',
    null,
  ];
  let body: unknown = { calls };
  const server = await listen((req, res) => {
    assert.equal(req.url, '/v1/signal/calls?live=1');
    assert.equal(req.headers['x-ttma-deployment'], 'dep-test');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  const signalling = client((server.address() as AddressInfo).port);
  try {
    const now = Date.parse('2030-01-01T00:02:00Z');
    assert.deepEqual((await signalling.liveCalls(now)).map((c) => c.call_control_id), ['v3:live-1', 'v3:ringing']);
    assert.deepEqual((await signalling.liveCalls(now + 120_000)).map((c) => c.call_control_id), ['v3:live-1'], 'ringing for 3 minutes by then');
    // A box's worth of calls (found too big for the usual 64 KiB answer limit at 200 calls).
    body = { calls: Array.from({ length: 5_000 }, (_, i) => ({ ...good, call_control_id: `v3:live-${i}` })) };
    assert.equal((await signalling.liveCalls()).length, 5_000);
    // Bounded still: more than 4 MiB is refused.
    body = { calls: Array.from({ length: 20_000 }, (_, i) => ({ ...good, call_control_id: `v3:live-${i}`, from: '+1'.padEnd(64, '5') })) };
    await assert.rejects(signalling.liveCalls(), (err) => isTtmaError(err, 'TTMA_ERR_PLATFORM') && /response too large/.test(err.message));
    body = { calls: 'everything' };
    await assert.rejects(signalling.liveCalls(), (err) => isTtmaError(err, 'TTMA_ERR_PLATFORM') && /without a calls array/.test(err.message));
  } finally {
    signalling.close();
    server.close();
  }
});

test('a refused connection is tried again until the platform listens; a request the platform failed is not', async () => {
  const [port] = (await freePorts(1)) as [number];
  const signalling = client(port);
  let hangups = 0;
  let server: Server | null = null;
  try {
    // Nothing listens for 400 ms, as while the platform restarts.
    const started = performance.now();
    const pending = signalling.hangup('v3:call-1', { reason: 'agent' });
    await sleep(400);
    server = await listen((_req, res) => {
      hangups++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    }, port);
    assert.deepEqual(await pending, { ok: true });
    assert.ok(performance.now() - started >= 400);
    assert.equal(hangups, 1, 'sent once it could be');
    assert.ok(signalling.connectRetries >= 2, `retried ${signalling.connectRetries} times`);

    // A server that takes the request and then drops the connection: it may have acted, so no retry.
    server.close();
    server.closeAllConnections();
    server = await listen((req) => {
      hangups++;
      req.socket.destroy();
    }, port);
    const fresh = client(port);
    try {
      await assert.rejects(fresh.hangup('v3:call-2', {}), (err) => isTtmaError(err, 'TTMA_ERR_PLATFORM'));
      assert.equal(hangups, 2, 'sent once, not again');
      assert.equal(fresh.connectRetries, 0);
    } finally {
      fresh.close();
    }
  } finally {
    signalling.close();
    server?.close();
    server?.closeAllConnections();
  }
});

test('a platform that stays away fails the request after about 5 s', async () => {
  const [port] = (await freePorts(1)) as [number];
  const signalling = client(port);
  try {
    const started = performance.now();
    await assert.rejects(signalling.hangup('v3:call-3', {}), (err) => isTtmaError(err, 'TTMA_ERR_PLATFORM') && /ECONNREFUSED/.test(err.message));
    const tookMs = performance.now() - started;
    assert.ok(tookMs >= 3_000 && tookMs < 6_500, `gave up after ${tookMs.toFixed(0)} ms`);
  } finally {
    signalling.close();
  }
});

test("an answer refused as pending (503 TTMA_ERR_CALL_PENDING: the call's call.initiated had not reached the platform) is asked again; other refusals are not", async () => {
  const pending = (res: ServerResponse) =>
    res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'TTMA_ERR_CALL_PENDING', message: 'not yet' } }));
  let answers = 0;
  let refuseFor = 2;
  const server = await listen((req, res) => {
    req.resume();
    const url = decodeURIComponent(req.url ?? '');
    if (url.endsWith('/answer')) answers++;
    if (url.includes('v3:gone')) return void res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'TTMA_ERR_CALL_NOT_OWNED', message: 'no' } }));
    if (url.includes('v3:never')) return pending(res);
    if (refuseFor-- > 0) return pending(res);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  const signalling = client((server.address() as AddressInfo).port);
  const body = { stream_url: 'wss://x.trycloudflare.com/v1/media/v3:a', stream_auth_token: 'a'.repeat(43) };
  try {
    assert.deepEqual(await signalling.answer('v3:a', body), { ok: true });
    assert.equal(answers, 3, 'two pending answers, then the one that went through');
    assert.equal(signalling.pendingRetries, 2);
    await assert.rejects(signalling.answer('v3:gone', body), (err) => isTtmaError(err, 'TTMA_ERR_CALL_NOT_OWNED'));
    assert.equal(answers, 4, 'a refusal is final');
    // Bounded: a call whose call.initiated never reaches the platform fails the answer after about 8 s.
    const started = performance.now();
    await assert.rejects(signalling.answer('v3:never', body), (err) => isTtmaError(err, 'TTMA_ERR_CALL_PENDING') && err.status === 503);
    const tookMs = performance.now() - started;
    assert.ok(tookMs >= 7_000 && tookMs < 9_000, `gave up after ${tookMs.toFixed(0)} ms`);
  } finally {
    signalling.close();
    server.close();
  }
});

test('a dial answered 2xx without a well-formed call id (a proxy\'s page, a broken platform) fails; it had resolved with no call id', async () => {
  const answers: Array<[string, string]> = [
    ['text/html', '<html>OK</html>'],
    ['application/json', '{}'],
    ['application/json', '{"call_control_id":7}'],
    ['application/json', '{"call_control_id":"../../x"}'],
    ['application/json', 'null'],
  ];
  let next = 0;
  const server = await listen((req, res) => {
    req.resume();
    const good = next >= answers.length;
    const [type, body] = good ? ['application/json', '{"call_control_id":"v3:dialled-1","call_session_id":"s-1"}'] : answers[next]!;
    next++;
    res.writeHead(good ? 200 : 201, { 'content-type': type }).end(body);
  });
  const signalling = client((server.address() as AddressInfo).port);
  const dial = { to: '+15550000002', from: '+15550000001', stream_url: 'wss://gw.example/v1/media/o1', stream_auth_token: 't'.repeat(43), codec: 'PCMU' as const };
  try {
    for (const [, body] of answers) {
      await assert.rejects(signalling.dial(dial), (err) => isTtmaError(err, 'TTMA_ERR_PLATFORM'), `answered ${body}`);
    }
    assert.equal((await signalling.dial(dial)).call_control_id, 'v3:dialled-1');
  } finally {
    signalling.close();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('an answer trickled a byte at a time (never idle for the 5 s timeout) is cut at the request deadline; it held its socket until the platform stopped', async () => {
  const trickles = new Set<NodeJS.Timeout>();
  const server = await listen((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"ok":true}');
    let sent = 0;
    // Padding a JSON answer may carry, a byte each 100 ms for 3 s, then the end.
    const timer = setInterval(() => {
      if (++sent < 30 && !res.destroyed) return void res.write(' ');
      clearInterval(timer);
      trickles.delete(timer);
      res.end();
    }, 100);
    trickles.add(timer);
  });
  const port = (server.address() as AddressInfo).port;
  const signalling = new SignallingClient({ platformUrl: `http://127.0.0.1:${port}`, deploymentId: 'dep-test', agentSecret: 'secret-0123456789abcdef', requestDeadlineMs: 600 });
  try {
    const startedAt = performance.now();
    await assert.rejects(signalling.hangup('v3:trickled'), (err) => isTtmaError(err, 'TTMA_ERR_PLATFORM'));
    const tookMs = performance.now() - startedAt;
    assert.ok(tookMs < 2_000, `failed after ${Math.round(tookMs)} ms`);
  } finally {
    signalling.close();
    for (const timer of trickles) clearInterval(timer);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
