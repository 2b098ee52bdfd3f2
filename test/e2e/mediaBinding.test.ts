/**
 * The media stream is bound to its call (FAQ-07): here the test plays the
 * provider by hand and a recording peer stands in for the platform, so the
 * one-time token the gateway minted can be used exactly as a provider would,
 * and then misused. The real platform is tested on its own in test/platform.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import nacl from 'tweetnacl';
import WebSocket from 'ws';
import { freePorts } from '../../src/cli/processes.js';
import { defaultGatewayConfig } from '../../src/config.js';
import { Gateway } from '../../src/Gateway.js';
import { pino } from 'pino';
import { pcmuEncode } from '../../src/media/g711.js';
import { webhookBody } from '../helpers/signing.js';
import { waitFor } from '../helpers/stack.js';

const NUMBER = '+15550100000';
const keys = nacl.sign.keyPair();
const answers = new Map<string, { stream_url: string; stream_auth_token: string }>();
const hangups: string[] = [];
const logLines: string[] = [];
let platform: Server;
let gateway: Gateway;
let tunnelPort: number;

before(async () => {
  const [platformPort, tunnel, local] = (await freePorts(3)) as [number, number, number];
  tunnelPort = tunnel;
  platform = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const match = /^\/v1\/signal\/calls\/([^/]+)\/(answer|hangup)$/.exec(req.url ?? '');
      if (match && match[2] === 'answer') answers.set(decodeURIComponent(match[1]!), JSON.parse(body));
      if (match && match[2] === 'hangup') hangups.push(decodeURIComponent(match[1]!));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  }).listen(platformPort, '127.0.0.1');
  gateway = new Gateway(
    {
      ...defaultGatewayConfig(),
      tunnelPort,
      localPort: local,
      workers: 1,
      publicHost: 'bind-test.trycloudflare.com',
      webhookPublicKey: Buffer.from(keys.publicKey).toString('base64'),
      platformUrl: `http://127.0.0.1:${platformPort}`,
      deploymentId: 'bind',
      agentSecret: 'x'.repeat(32),
      numbers: [NUMBER],
    },
    // Every log line is kept, at debug level, to check that no token ever reaches a log.
    pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) }),
  );
  await gateway.start();
});

after(async () => {
  await gateway.stop();
  await new Promise((resolve) => platform.close(resolve));
});

async function incomingCall(callId: string): Promise<string> {
  const body = webhookBody('call.initiated', {
    call_control_id: callId, call_leg_id: 'l', call_session_id: 's', connection_id: 'c',
    from: '+15550200001', to: NUMBER, direction: 'incoming', state: 'parked',
  });
  const ts = String(Math.floor(Date.now() / 1000));
  const signature = Buffer.from(nacl.sign.detached(Buffer.from(`${ts}|${body}`), keys.secretKey)).toString('base64');
  const response = await fetch(`http://127.0.0.1:${tunnelPort}/v1/webhooks/provider`, {
    method: 'POST',
    headers: { 'telnyx-signature-ed25519': signature, 'telnyx-timestamp': ts, 'content-type': 'application/json' },
    body,
  });
  assert.equal(response.status, 200);
  await waitFor(`the answer for ${callId}`, () => answers.has(callId));
  const answer = answers.get(callId)!;
  assert.equal(answer.stream_url, `wss://bind-test.trycloudflare.com/v1/media/${callId}`);
  return answer.stream_auth_token;
}

function connect(callId: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${tunnelPort}/v1/media/${callId}`, { headers: { 'x-telnyx-streaming-auth-token': token } });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
}

function start(callId: string, encoding = 'PCMU'): string {
  return JSON.stringify({
    event: 'start', sequence_number: '1', stream_id: 'st',
    start: { call_control_id: callId, call_session_id: 's', from: '+15550200001', to: NUMBER, media_format: { encoding, sample_rate: 8000, channels: 1 } },
  });
}

test('the minted token is 256-bit and opens exactly its own call, once', async () => {
  const token = await incomingCall('bind-1');
  assert.equal(Buffer.from(token, 'base64url').length, 32);
  await assert.rejects(connect('bind-other', token), /401/, 'not for another call path');
  await assert.rejects(connect('bind-1', token), /401/, 'burnt by the attempt on another call');
});

test('a start frame naming another call closes the stream (1008)', async () => {
  const token = await incomingCall('bind-2');
  const ws = await connect('bind-2', token);
  const done = closed(ws);
  ws.send(JSON.stringify({ event: 'connected', version: '1.0.0' }));
  ws.send(start('someone-elses-call'));
  const { code, reason } = await done;
  assert.equal(code, 1008);
  assert.match(reason, /TTMA_ERR_MEDIA_PROTOCOL/);
  await waitFor('the call to be hung up', () => hangups.includes('bind-2'));
});

test('an unsupported codec in the start frame ends that call with a clear error, not a crash', async () => {
  const token = await incomingCall('bind-3');
  const ws = await connect('bind-3', token);
  const done = closed(ws);
  ws.send(start('bind-3', 'G729'));
  const { code, reason } = await done;
  assert.equal(code, 1003);
  assert.match(reason, /TTMA_ERR_CODEC_UNSUPPORTED/);
  assert.equal(gateway.status().workerRestarts, 0);
});

test('a hand-driven provider gets its audio back, with malformed frames counted and ignored', async () => {
  const token = await incomingCall('bind-4');
  const ws = await connect('bind-4', token);
  const back: Array<{ payload: Buffer }> = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as { event: string; media?: { payload: string } };
    if (frame.event === 'media') back.push({ payload: Buffer.from(frame.media!.payload, 'base64') });
  });
  ws.send(start('bind-4'));
  ws.send('{not json');
  ws.send(JSON.stringify({ event: 'media', media: { track: 'inbound', payload: 12 } }));
  const pcm = new Int16Array(160);
  const t0 = performance.now();
  for (let k = 0; k < 25; k++) {
    for (let i = 0; i < 160; i++) pcm[i] = Math.round(6000 * Math.sin((2 * Math.PI * 440 * (k * 160 + i)) / 8000));
    const payload = Buffer.from(pcmuEncode(pcm)).toString('base64');
    ws.send(JSON.stringify({ event: 'media', sequence_number: String(k + 2), stream_id: 'st', media: { track: 'inbound', chunk: String(k + 1), timestamp: String(k * 20), payload } }));
    // On a 20 ms grid, as a provider sends (a drifting sender would look like jitter to the gateway).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, t0 + (k + 1) * 20 - performance.now())));
  }
  ws.send(JSON.stringify({ event: 'stop', sequence_number: '99', stream_id: 'st', stop: { call_control_id: 'bind-4' } }));
  await waitFor('all frames back', () => back.length >= 25);
  assert.ok(back.every((f) => f.payload.length === 160), 'each frame is 20 ms of PCMU');
  const done = closed(ws);
  ws.close(1000);
  await done;
  await waitFor('the call summary', () => gateway.control.summaries.some((s) => s.callId === 'bind-4'));
  const summary = gateway.control.summaries.find((s) => s.callId === 'bind-4')!;
  assert.equal(summary.framesIn, 25);
  assert.equal(summary.framesOut, back.length);
  assert.equal(summary.framesOut, 25 + summary.jitter!.concealed, 'every frame out is a frame in or a concealment');
  assert.equal(summary.malformedFrames, 2);
});

test('binary garbage closes only that call (1003)', async () => {
  const token = await incomingCall('bind-5');
  const ws = await connect('bind-5', token);
  const done = closed(ws);
  ws.send(start('bind-5'));
  ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]), { binary: true });
  const { code, reason } = await done;
  assert.equal(code, 1003);
  assert.match(reason, /TTMA_ERR_MEDIA_PROTOCOL/);
  await waitFor('the call to be hung up', () => hangups.includes('bind-5'));
});

test('a frame flood closes the socket (1008) and ends the call', async () => {
  const token = await incomingCall('bind-6');
  const ws = await connect('bind-6', token);
  const done = closed(ws);
  ws.send(start('bind-6'));
  const frame = JSON.stringify({ event: 'media', media: { track: 'inbound', payload: Buffer.alloc(160, 0xff).toString('base64') } });
  for (let i = 0; i < 600 && ws.readyState === WebSocket.OPEN; i++) ws.send(frame);
  const { code, reason } = await done;
  assert.equal(code, 1008);
  assert.match(reason, /TTMA_ERR_MEDIA_FLOOD/);
  await waitFor('the call to be hung up', () => hangups.includes('bind-6'));
  assert.equal(gateway.status().mediaClosedForAbuse.flood, 1);
});

test('no media token ever appears in the gateway logs, refusals included', () => {
  assert.ok(logLines.length > 10, 'the gateway logged while these tests ran');
  assert.ok(logLines.some((l) => l.includes('media upgrade refused')), 'refusals were logged');
  for (const { stream_auth_token: token } of answers.values()) {
    for (const line of logLines) assert.ok(!line.includes(token), 'a token leaked into a log line');
  }
});
