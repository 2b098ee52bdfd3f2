/**
 * The gateway's ControlChannel against a real `ws` server on loopback playing
 * the platform: the secret travels in a header and never in the URL; garbage
 * from the platform is ignored without taking the gateway down; a silent
 * connection (no ping within 2.5 heartbeats) is dropped and re-dialled; usage
 * reports wait while disconnected and are re-sent until acknowledged.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { ControlChannel } from '../../src/control/ControlChannel.js';
import { createLogger, type Logger } from '../../src/log.js';
import { parsePlatformMessage, type PlatformControlMessage } from '../../src/wire/controlChannel.js';

const SECRET = 's'.repeat(43);

async function waitFor(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A warn-level logger whose lines a test reads back. */
function capturedLog(): { log: Logger; lines: Array<{ msg: string; suppressed?: number }> } {
  const lines: Array<{ msg: string; suppressed?: number }> = [];
  return { log: createLogger('test', 'warn', { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) }), lines };
}

describe('ControlChannel against a scripted platform', () => {
  let wss: WebSocketServer;
  let url: string;
  const upgrades: IncomingMessage[] = [];
  const sockets: WebSocket[] = [];
  const received: string[] = [];
  let onConnect: (ws: WebSocket) => void = () => undefined;

  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss.once('listening', resolve));
    url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    wss.on('connection', (ws, req) => {
      upgrades.push(req);
      sockets.push(ws);
      ws.on('message', (data) => received.push(String(data)));
      onConnect(ws);
    });
  });
  after(() => new Promise<void>((resolve) => {
    for (const ws of wss.clients) ws.terminate();
    wss.close(() => resolve());
  }));

  function channel(messages: PlatformControlMessage[], extra: Partial<ConstructorParameters<typeof ControlChannel>[0]> = {}): ControlChannel {
    return new ControlChannel({
      platformUrl: url,
      deploymentId: 'dep-1',
      agentSecret: SECRET,
      log: createLogger('test', 'silent'),
      onMessage: (m) => messages.push(m),
      baseDelayMs: 20,
      maxDelayMs: 100,
      ...extra,
    });
  }

  it('dials /v1/control with the identity in headers only, ignores garbage and keeps going', async () => {
    const messages: PlatformControlMessage[] = [];
    onConnect = (ws) => {
      ws.send('not json');
      ws.send(Buffer.from([1, 2, 3]), { binary: true });
      ws.send(JSON.stringify({ type: 'hello' }));
      ws.send(JSON.stringify({ type: 'cap.reached', call_control_id: 7 }));
      ws.send(JSON.stringify({ type: 'something.new', x: 1 }));
      ws.send(JSON.stringify({ type: 'cap.state', cap_state: { capped: true, cap: 'week', until: 'x', message: 'y' } }));
      ws.send(JSON.stringify({ type: 'hello', deployment: 'dep-1', cap_state: { capped: false }, heartbeat_ms: 15_000 }));
      ws.send(JSON.stringify({ type: 'cap.state', cap_state: { capped: true, cap: 'day', until: '2030-01-01T00:00:00.000Z', message: 'daily minute cap reached' } }));
    };
    const c = channel(messages);
    c.start();
    try {
      await waitFor('the two valid messages', () => messages.length === 2);
      assert.deepEqual(messages.map((m) => m.type), ['hello', 'cap.state']);
      assert.equal(c.state, 'open');
      const req = upgrades.at(-1)!;
      assert.equal(req.url, '/v1/control');
      assert.equal(req.headers.authorization, `Bearer ${SECRET}`);
      assert.equal(req.headers['x-ttma-deployment'], 'dep-1');
      assert.ok(!req.url?.includes(SECRET));
    } finally {
      c.stop();
    }
  });

  it('a connection without pings is dropped after 2.5 heartbeats and dialled again', async () => {
    const messages: PlatformControlMessage[] = [];
    onConnect = (ws) => ws.send(JSON.stringify({ type: 'hello', deployment: 'dep-1', cap_state: { capped: false }, heartbeat_ms: 40 }));
    const c = channel(messages);
    c.start();
    try {
      await waitFor('a second connection after the silence', () => c.counters.connects >= 2, 3_000);
      assert.ok(c.counters.disconnects >= 1);
    } finally {
      c.stop();
    }
  });

  it('usage reports wait while disconnected, are sent on the hello, and re-sent until acknowledged', async () => {
    const messages: PlatformControlMessage[] = [];
    let acknowledge = false;
    received.length = 0;
    onConnect = (ws) => {
      ws.send(JSON.stringify({ type: 'hello', deployment: 'dep-1', cap_state: { capped: false }, heartbeat_ms: 15_000 }));
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as { call_control_id: string };
        if (acknowledge) ws.send(JSON.stringify({ type: 'usage.ack', call_control_id: m.call_control_id, ok: true, flags: [] }));
        else ws.terminate(); // lost before the answer
      });
    };
    const c = channel(messages);
    c.reportUsage('v3:before-connect', 12_345.4);
    assert.equal(c.pendingReports, 1);
    c.start();
    try {
      await waitFor('the first send', () => received.length >= 1);
      assert.deepEqual(JSON.parse(received[0]!), { type: 'usage', call_control_id: 'v3:before-connect', duration_ms: 12_345 });
      acknowledge = true;
      await waitFor('the acknowledgement after a reconnect', () => c.pendingReports === 0, 3_000);
      assert.ok(c.counters.connects >= 2);
      assert.equal(c.counters.reportsAcked, 1);
      assert.ok(received.length >= 2, 're-sent after the reconnect');
    } finally {
      c.stop();
    }
  });

  it('a report refused for an unreachable store is re-sent with capped backoff until recorded; any other refusal is final', async () => {
    const messages: PlatformControlMessage[] = [];
    const sends = new Map<string, number[]>();
    onConnect = (ws) => {
      ws.send(JSON.stringify({ type: 'hello', deployment: 'dep-1', cap_state: { capped: false }, heartbeat_ms: 15_000 }));
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as { call_control_id: string };
        const times = sends.get(m.call_control_id) ?? [];
        times.push(Date.now());
        sends.set(m.call_control_id, times);
        const ack = m.call_control_id === 'v3:other'
          ? { ok: false, code: 'TTMA_ERR_CALL_NOT_OWNED', message: 'call not found or not owned by this deployment' }
          : times.length <= 3
            ? { ok: false, code: 'TTMA_ERR_STORE_UNAVAILABLE', message: 'redis unavailable' }
            : { ok: true, flags: [] };
        ws.send(JSON.stringify({ type: 'usage.ack', call_control_id: m.call_control_id, ...ack }));
      });
    };
    // random 0: each delay is exactly half its ceiling.
    const c = channel(messages, { reportRetryBaseMs: 120, reportRetryMaxMs: 240, random: () => 0 });
    c.start();
    try {
      await waitFor('the connection', () => c.authenticated);
      c.reportUsage('v3:retried', 1_000);
      c.reportUsage('v3:other', 1_000);
      await waitFor('the retried report acknowledged', () => c.counters.reportsAcked === 1, 3_000);
      const times = sends.get('v3:retried')!;
      assert.equal(times.length, 4, 'sent once and re-sent three times');
      // Delays: ceilings 120, 240, 240 (capped), half of each with random 0.
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      for (const [i, expected] of [60, 120, 120].entries()) assert.ok(gaps[i]! >= expected - 5 && gaps[i]! < expected + 250, `gap ${i}: ${gaps[i]} ms, expected ~${expected}`);
      assert.equal(c.counters.reportsRetried, 3);
      assert.equal(c.pendingReports, 0);
      assert.deepEqual([sends.get('v3:other')?.length, c.counters.reportsRefused], [1, 1], 'a final refusal is not re-sent');
      assert.deepEqual(c.reportRetryDelayMs(10), 120, 'capped at the maximum');
    } finally {
      c.stop();
    }
  });

  it('a hello naming a ping interval past what a timer holds keeps the connection (it was dropped within a millisecond, again and again)', async () => {
    const messages: PlatformControlMessage[] = [];
    // 1e12 ms: 2.5 of it overflows Node's timer, which then fires after 1 ms.
    onConnect = (ws) => ws.send(JSON.stringify({ type: 'hello', deployment: 'dep-1', cap_state: { capped: false }, heartbeat_ms: 1e12 }));
    const c = channel(messages);
    c.start();
    try {
      await waitFor('the hello', () => c.authenticated);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(c.counters.connects, 1, 'one connection, kept');
      assert.equal(c.counters.disconnects, 0);
      assert.equal(c.state, 'open');
    } finally {
      c.stop();
    }
  });

  it('frames the platform may send without end (not JSON, a type we do not know, an error nobody asked for) cost a bounded number of log lines', async () => {
    const messages: PlatformControlMessage[] = [];
    const { log, lines } = capturedLog();
    onConnect = (ws) => {
      ws.send(JSON.stringify({ type: 'hello', deployment: 'dep-1', cap_state: { capped: false }, heartbeat_ms: 15_000 }));
      for (let k = 0; k < 300; k++) ws.send([() => 'not json', () => JSON.stringify({ type: 'stats.v2', k }), () => JSON.stringify({ type: 'error', code: 'TTMA_ERR_BAD_REQUEST', message: 'unasked' })][k % 3]!());
      ws.send(JSON.stringify({ type: 'cap.state', cap_state: { capped: false } }));
    };
    const c = channel(messages, { log });
    c.start();
    try {
      await waitFor('the frame after the flood', () => messages.some((m) => m.type === 'cap.state'));
      c.stop(); // writes the window's summaries
      const perFrame = lines.filter((l) => /not JSON; ignored$|not understood; ignored$|refused: unasked$/.test(l.msg));
      assert.ok(perFrame.length <= 30, `${perFrame.length} lines for 300 frames`);
      const summaries = lines.filter((l) => typeof l.suppressed === 'number');
      assert.equal(summaries.reduce((sum, l) => sum + l.suppressed!, 0) + perFrame.length, 300, 'every frame is in a line or a count');
      assert.equal(c.state, 'stopped');
    } finally {
      c.stop();
    }
  });

  it('a report answered twice, or refused after it was recorded, counts and logs once', async () => {
    const messages: PlatformControlMessage[] = [];
    const { log, lines } = capturedLog();
    onConnect = (ws) => {
      ws.send(JSON.stringify({ type: 'hello', deployment: 'dep-1', cap_state: { capped: false }, heartbeat_ms: 15_000 }));
      ws.on('message', (data) => {
        const { call_control_id } = JSON.parse(String(data)) as { call_control_id: string };
        const ok = { type: 'usage.ack', call_control_id, ok: true, flags: ['duration_mismatch'] };
        // Duplicated, then a late refusal of the same report (out of order).
        ws.send(JSON.stringify(ok));
        ws.send(JSON.stringify(ok));
        ws.send(JSON.stringify({ type: 'usage.ack', call_control_id, ok: false, code: 'TTMA_ERR_STORE_UNAVAILABLE', message: 'redis unavailable' }));
        ws.send(JSON.stringify({ type: 'usage.ack', call_control_id, ok: false, code: 'TTMA_ERR_CALL_NOT_OWNED', message: 'not owned' }));
        ws.send(JSON.stringify({ type: 'cap.state', cap_state: { capped: false } }));
      });
    };
    const c = channel(messages, { log });
    c.start();
    try {
      await waitFor('the connection', () => c.authenticated);
      c.reportUsage('v3:twice', 2_000);
      await waitFor('the answers', () => messages.some((m) => m.type === 'cap.state'));
      assert.deepEqual(
        [c.counters.reportsSent, c.counters.reportsAcked, c.counters.reportsRefused, c.counters.reportsRetried, c.pendingReports],
        [1, 1, 0, 0, 0],
        'one report sent, acknowledged once, neither refused nor sent again',
      );
      assert.equal(lines.filter((l) => /flagged|refused|again later/.test(l.msg)).length, 1, lines.map((l) => l.msg).join(' | '));
    } finally {
      c.stop();
    }
  });

  it('a connection dropped right after its hello, again and again, is dialled with a growing backoff; one that held starts it afresh', async () => {
    const messages: PlatformControlMessage[] = [];
    const hello = JSON.stringify({ type: 'hello', deployment: 'dep-1', cap_state: { capped: false }, heartbeat_ms: 15_000 });
    // A middlebox that cuts each WebSocket after its first frame.
    onConnect = (ws) => ws.send(hello, () => ws.terminate());
    const flapping = channel(messages, { maxDelayMs: 400, heldAfterMs: 150 });
    flapping.start();
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      // Reset at each hello, every wait was 10 to 20 ms: some 40 connections a second.
      assert.ok(flapping.counters.connects <= 12, `${flapping.counters.connects} connections in 1 s`);
      assert.ok(flapping.failures >= 4, `backoff at ${flapping.failures} failures`);
    } finally {
      flapping.stop();
    }
    // Held past heldAfterMs each time: every loss is a first failure again.
    const seen: number[] = [];
    let held: ControlChannel | null = null;
    onConnect = (ws) => {
      seen.push(held?.failures ?? -1);
      ws.send(hello);
      setTimeout(() => ws.terminate(), 250);
    };
    held = channel(messages, { maxDelayMs: 400, heldAfterMs: 150 });
    held.start();
    try {
      await waitFor('four connections', () => seen.length >= 4, 5_000);
      assert.deepEqual(seen.slice(1, 4), [1, 1, 1], 'each loss of a connection that held is the first failure');
    } finally {
      held.stop();
    }
  });

  it('a hello naming another deployment is refused: nothing it says is acted on, one error names both ids, and the connection is dialled again', async () => {
    const messages: PlatformControlMessage[] = [];
    const { log, lines } = capturedLog();
    let helloFor = 'dep-other';
    onConnect = (ws) => {
      ws.send(JSON.stringify({ type: 'hello', deployment: helloFor, cap_state: { capped: true, cap: 'day', until: '2030-01-01T00:00:00.000Z', message: 'daily minute cap reached' }, heartbeat_ms: 15_000 }));
      ws.send(JSON.stringify({ type: 'cap.state', cap_state: { capped: true, cap: 'day', until: '2030-01-01T00:00:00.000Z', message: 'daily minute cap reached' } }));
    };
    const c = channel(messages, { log });
    c.start();
    try {
      await waitFor('three refused connections', () => upgrades.length >= 3 && c.counters.connects >= 3 && c.state !== 'open');
      assert.equal(messages.length, 0, 'neither the hello nor the cap state reached the gateway');
      assert.equal(c.authenticated, false);
      assert.equal(c.deploymentMismatch, 'dep-other');
      assert.match(c.lastError ?? '', /dep-other.*dep-1/);
      const errors = (lines as Array<{ msg: string; level?: number | string }>).filter((l) => /names deployment dep-other, not this gateway's dep-1/.test(l.msg));
      assert.equal(errors.length, 1, 'one error line, not one per attempt');
      helloFor = 'dep-1';
      await waitFor('a hello naming ours', () => c.authenticated);
      assert.equal(c.deploymentMismatch, null);
      assert.equal(messages[0]?.type, 'hello');
    } finally {
      c.stop();
    }
  });

  it('parsePlatformMessage accepts only the known shapes', () => {
    assert.equal(parsePlatformMessage(null), null);
    assert.equal(parsePlatformMessage({ type: 'usage.ack', call_control_id: 'a', ok: true, flags: [1] }), null);
    assert.equal(parsePlatformMessage({ type: 'usage.ack', call_control_id: 'a', ok: false, code: 'X' }), null);
    assert.ok(parsePlatformMessage({ type: 'usage.ack', call_control_id: 'a', ok: true, flags: ['duration_mismatch'] }));
    assert.ok(parsePlatformMessage({ type: 'cap.reached', cap: 'month', call_control_id: 'a', ending_in_ms: 1000, message: 'm' }));
    assert.equal(parsePlatformMessage({ type: 'cap.state', cap_state: { capped: true, cap: 'day' } }), null);
  });
});
