/**
 * A real media worker with a small heap (64 MB) carries 40 calls whose `ws`
 * agents each send a 130 s reply at once. Each call stays within its own
 * queue bound (2 MiB of frame text), yet together they passed the worker's
 * heap and V8 ended the thread with every call on it (about 2 s in). With the
 * worker's shared bound on queued agent audio (a quarter of its heap limit)
 * the worker stays up, the calls keep playing, the calls with short replies
 * lose nothing, and the drops are counted in the pong and logged once a call.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { DEFAULT_BARGE_IN } from '../../src/agent/agentConfig.js';
import { agentAudioBudgetBytes, QUEUED_FRAME_OVERHEAD_BYTES } from '../../src/actors/agentAudioBudget.js';
import type { FromWorker } from '../../src/actors/messages.js';
import { WorkerHost } from '../../src/actors/WorkerHost.js';
import type { WorkerStatsSnapshot } from '../../src/actors/WorkerStats.js';

const CALLS = 40;
/** Calls whose agent answers in 2 s rather than 130 s: well within their fair share. */
const SHORT = new Set([5, 17, 29]);
const HEAP_MB = 64;
/** Frames each reply makes toward the phone (PCMU, 20 ms), and what one is charged against the bound (its 257 characters and the rest). */
const LONG_FRAMES = 130 * 50;
const SHORT_FRAMES = 2 * 50;
const FRAME_CHARGE = 257 + QUEUED_FRAME_OVERHEAD_BYTES;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a worker whose calls all get a long reply at once stays up under its heap limit; the calls keep playing', { timeout: 60_000 }, async () => {
  const second = Buffer.alloc(32_000); // 1 s at 16 kHz
  for (let i = 0; i < 16_000; i++) second.writeInt16LE(Math.round(8_000 * Math.sin(i / 7)), i * 2);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  wss.on('connection', (ws, request) => {
    const slot = Number(new URL(request.url ?? '/', 'http://x').searchParams.get('slot'));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const msg = JSON.parse(String(data)) as { type: string };
      if (msg.type === 'hello') ws.send(JSON.stringify({ type: 'ready', sample_rate: 16_000 }));
      if (msg.type === 'start') for (let s = 0; s < (SHORT.has(slot) ? 2 : 130); s++) ws.send(second, { binary: true });
    });
  });
  const frames = new Map<number, number>();
  const control: FromWorker[] = [];
  let exitCode: number | null = null;
  let stats: WorkerStatsSnapshot | null = null;
  let heapUsed = 0;
  let pongs = 0;
  const host = new WorkerHost({
    index: 0,
    call: { mailboxFrames: 50, jitterMinDelayMs: 40, jitterMaxDelayMs: 200, greeting: null, hold: null },
    tickMs: 5,
    tunnel: null,
    maxHeapMb: HEAP_MB,
    onMedia: (slot) => void frames.set(slot, (frames.get(slot) ?? 0) + 1),
    onControl: (message) => {
      if (message.type === 'pong') {
        pongs++;
        stats = message.stats;
        heapUsed = message.heapUsedBytes;
      } else control.push(message);
    },
  });
  host.on('exit', (code) => (exitCode = code));
  const alive = () => assert.equal(exitCode, null, `the worker exited (code ${exitCode}) with every call on it; heap ${Math.round(heapUsed / 1048576)} MB at the last pong`);
  try {
    await host.ready();
    for (let slot = 1; slot <= CALLS; slot++) {
      const callId = `v3:budget-e2e-${slot}`;
      host.send({ type: 'call.open', slot, callId, from: '+15550100001', to: '+15550100000', direction: 'incoming', agent: { kind: 'ws', url: `${url}/?slot=${slot}`, token: '', bargeIn: DEFAULT_BARGE_IN }, bargeIn: DEFAULT_BARGE_IN });
      const start = { event: 'start', start: { call_control_id: callId, media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 } } };
      host.appendMedia(slot, new TextEncoder().encode(JSON.stringify(start)).buffer as ArrayBuffer, Date.now());
    }
    /** A pong answered after now (a busy worker answers queued pings in a burst, all alike). */
    const freshPong = async () => {
      const seen = pongs;
      host.ping();
      for (let i = 0; i < 1_000 && pongs === seen && exitCode === null; i++) await sleep(10);
      alive();
      assert.ok(pongs > seen, 'the worker answers its pings');
      return (stats as WorkerStatsSnapshot | null)!;
    };
    // Until every reply is in: each frame sent, dropped or still queued (without the bound the worker dies meanwhile,
    // and its pongs carry no `agentAudio`).
    const expected = (CALLS - SHORT.size) * LONG_FRAMES + SHORT.size * SHORT_FRAMES;
    const accounted = (s: WorkerStatsSnapshot) => s.totals.framesOut + s.totals.mailboxDrops + Math.round((s.agentAudio?.heldBytes ?? 0) / FRAME_CHARGE);
    for (const deadline = Date.now() + 30_000; accounted(await freshPong()) < 0.99 * expected; await sleep(250)) {
      assert.ok(Date.now() < deadline, `replies taken in: ${accounted((stats as WorkerStatsSnapshot | null)!)} of ${expected} frames`);
    }
    // A clock tick later, the calls past their share have shed what took the total past the bound.
    await sleep(50);
    const budget = (await freshPong()).agentAudio;
    assert.ok(budget.drops > 0);
    assert.equal(budget.maxBytes, agentAudioBudgetBytes(HEAP_MB), 'a quarter of the heap limit');
    assert.ok(budget.heldBytes <= budget.maxBytes, `${budget.heldBytes} bytes queued, bound ${budget.maxBytes}`);
    assert.ok(heapUsed < 0.85 * HEAP_MB * 1048576, `heap ${Math.round(heapUsed / 1048576)} MB`);

    // Every call still plays: a second's frames each, nothing ended or closed.
    const before = new Map(frames);
    await sleep(1_000);
    alive();
    for (let slot = 1; slot <= CALLS; slot++) {
      if (SHORT.has(slot)) continue; // their 2 s may have ended
      const played = (frames.get(slot) ?? 0) - (before.get(slot) ?? 0);
      assert.ok(played >= 40, `call ${slot} played ${played} frames in the last second`);
    }
    assert.deepEqual(control.filter((m) => m.type === 'call.ended' || m.type === 'media.close'), []);

    // The short replies were played whole; the drops were the long calls', each logged once.
    const shortPlayed = () => [...SHORT].map((slot) => frames.get(slot) ?? 0);
    for (let i = 0; i < 500 && shortPlayed().some((n) => n < SHORT_FRAMES); i++) await sleep(10);
    assert.deepEqual(shortPlayed(), [...SHORT].map(() => SHORT_FRAMES), 'the 2 s replies, whole');
    const warned = control.flatMap((m) => (m.type === 'log' && /agent audio dropped/.test(m.msg) ? [m.slot] : []));
    assert.ok(warned.length > 0);
    assert.equal(new Set(warned).size, warned.length, `once a call: ${warned.join(',')}`);
    assert.ok(warned.every((slot) => slot !== undefined && !SHORT.has(slot)), `logged calls ${warned.join(',')}`);
    const seen = pongs;
    host.ping(true);
    for (let i = 0; i < 1_000 && pongs === seen; i++) await sleep(10);
    const live = (stats as WorkerStatsSnapshot | null)!.calls;
    for (const slot of SHORT) assert.equal(live.find((c) => c.callId === `v3:budget-e2e-${slot}`)?.mailboxDrops, 0, `call ${slot} lost nothing`);
  } finally {
    if (exitCode === null) await host.close();
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
});
