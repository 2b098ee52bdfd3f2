/**
 * The baseline: the voice gateway as it is commonly written in Node. One
 * thread; node:http for webhooks; the `ws` library for media sockets; each
 * media message handled as it arrives (JSON.parse, base64, decode, resample
 * to the agent's 16 kHz, the echo agent, resample back, encode, send). The
 * same protocol as ours (verified Ed25519 webhooks through src/control's
 * WebhookGate, answer through the platform's signalling API, one-time media
 * token) and the same codec and resampling code (src/media, native where it
 * loads), so the bench compares architecture, not DSP. No jitter buffer and
 * no pacer: the echo goes out the moment it is made, which only flatters the
 * baseline's latency.
 *
 *   node dist/bench/baseline/server.js --port P --platform-url U --public-key-file F
 *     --agent-secret-file F --deployment-id D --public-host H --codec PCMU|OPUS
 * prints {"event":"ready","port":P}. Diagnostics: GET /debug/latency,
 * POST /debug/latency/reset (same JSON shape as the gateway's).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import { LatencyHistogram } from '../../src/actors/LatencyHistogram.js';
import { createLoopDelay, loopLatenessMs } from '../../src/actors/loopDelay.js';
import { SignallingClient } from '../../src/control/SignallingClient.js';
import { WebhookGate } from '../../src/control/WebhookGate.js';
import { createPhoneCodec, type PhoneCodec } from '../../src/media/codecs.js';
import { createResampler, type CallResampler } from '../../src/media/createResampler.js';
import { HEADER_SIGNATURE, HEADER_STREAM_TOKEN, HEADER_TIMESTAMP } from '../../src/wire/telnyx.js';
import { parseEd25519PublicKey } from '../../src/wire/webhookSignature.js';

const AGENT_RATE = 16_000;

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'platform-url': { type: 'string' },
    'public-key-file': { type: 'string' },
    'agent-secret-file': { type: 'string' },
    'deployment-id': { type: 'string' },
    'public-host': { type: 'string' },
    codec: { type: 'string', default: 'PCMU' },
  },
});
const read = (path: string | undefined) => readFileSync(path ?? '', 'utf8').trim();
const gate = new WebhookGate(parseEd25519PublicKey(read(values['public-key-file'])));
const signalling = new SignallingClient({
  platformUrl: values['platform-url'] ?? '',
  deploymentId: values['deployment-id'] ?? '',
  agentSecret: read(values['agent-secret-file']),
});

const toAgent = new LatencyHistogram();
const toPhone = new LatencyHistogram();
const loopDelay = createLoopDelay();
loopDelay.enable();
/** callId -> one-time media token (consumed at upgrade). */
const tokens = new Map<string, string>();
let liveCalls = 0;

interface CallMedia {
  codec: PhoneCodec;
  up: CallResampler;
  down: CallResampler;
}

function onMediaSocket(ws: WebSocket): void {
  liveCalls++;
  let media: CallMedia | null = null;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const inAt = performance.now();
    if (isBinary) return;
    let frame: { event?: string; start?: { media_format?: { encoding: string; sample_rate?: number } }; media?: { payload?: string } };
    try {
      frame = JSON.parse(data.toString('utf8')) as typeof frame;
    } catch {
      return;
    }
    if (frame.event === 'start' && !media) {
      const codec = createPhoneCodec(frame.start?.media_format ?? { encoding: '' });
      media = { codec, up: createResampler(codec.sampleRate, AGENT_RATE), down: createResampler(AGENT_RATE, codec.sampleRate) };
      return;
    }
    if (frame.event !== 'media' || !media || typeof frame.media?.payload !== 'string') return;
    const pcm = media.up.process(media.codec.decode(Buffer.from(frame.media.payload, 'base64')));
    const agentAt = performance.now();
    toAgent.record(agentAt - inAt);
    // The echo agent: the caller's audio comes straight back.
    const encoded = media.codec.encode(media.down.process(pcm));
    const payload = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength).toString('base64');
    ws.send(`{"event":"media","media":{"payload":"${payload}"}}`);
    toPhone.record(performance.now() - agentAt);
  });
  ws.on('close', () => liveCalls--);
  ws.on('error', () => {});
}

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 });

const server = http.createServer((req, res) => {
  const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  if (req.method === 'GET' && req.url === '/debug/latency') {
    return json(200, {
      toAgent: toAgent.summary(),
      toPhone: toPhone.summary(),
      jitterHold: new LatencyHistogram().summary(),
      pacerHold: new LatencyHistogram().summary(),
      workerLoopDelayP99Ms: 0,
      mainLoopDelayP99Ms: loopLatenessMs(loopDelay, 99),
      liveCalls,
    });
  }
  if (req.method === 'POST' && req.url === '/debug/latency/reset') {
    toAgent.reset();
    toPhone.reset();
    loopDelay.reset();
    return json(200, { ok: true });
  }
  if (req.method !== 'POST' || req.url !== '/v1/webhooks/provider') return json(404, {});
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const header = (name: string) => {
      const v = req.headers[name];
      return typeof v === 'string' ? v : undefined;
    };
    const outcome = gate.check(header(HEADER_SIGNATURE), header(HEADER_TIMESTAMP), Buffer.concat(chunks), Date.now());
    if (outcome.status !== 200) return json(outcome.status, { error: outcome.reason });
    json(200, { ok: true });
    if (outcome.duplicate) return;
    const { event_type: type, payload } = outcome.envelope.data;
    if (type !== 'call.initiated' || payload.direction !== 'incoming') return;
    const callId = payload.call_control_id;
    const token = randomBytes(32).toString('base64url');
    tokens.set(callId, token);
    signalling
      .answer(callId, { stream_url: `wss://${values['public-host']}/v1/media/${encodeURIComponent(callId)}`, stream_auth_token: token, codec: values.codec ?? 'PCMU' })
      .catch((err: Error) => process.stderr.write(`baseline: answer failed: ${err.message}\n`));
  });
});

server.on('upgrade', (req, socket, head) => {
  const match = /^\/v1\/media\/([^/?]+)/.exec(req.url ?? '');
  const callId = match ? decodeURIComponent(match[1] ?? '') : '';
  const token = req.headers[HEADER_STREAM_TOKEN];
  if (!callId || typeof token !== 'string' || tokens.get(callId) !== token) {
    socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
    return;
  }
  tokens.delete(callId);
  wss.handleUpgrade(req, socket, head, (ws) => onMediaSocket(ws));
});

server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ event: 'ready', port: (server.address() as AddressInfo).port })}\n`);
});
process.once('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
});
