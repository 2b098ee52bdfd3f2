/**
 * The local operator routes' challenge-response against a real gateway (the
 * whole stack in this process, on loopback): `ttma` works end to end; the
 * agent secret as a bearer is refused (it was accepted, and so sent to
 * whatever held the port); a signed request is accepted once, only for the
 * method, path, query and body it was signed over, and only on the port it
 * names; a forged nonce, a wrong MAC, a MAC under another secret are refused
 * (401, the nonce not spent); a relay from another port to the real gateway
 * gets `ttma` nowhere; a flood of nonce requests locks `ttma` out of nothing.
 * Expiry (30 s) is tested on a moved clock in test/front/LocalOperatorAuth.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { authorizationHeader, LOCAL_MAC_HEADER, LOCAL_NONCE_PATH, localAuthKeys, macEquals, requestMac, responseMac } from '../../src/wire/localAuth.js';
import { localNonce, localRaw, signedLocal, type LocalRaw } from '../helpers/localAuth.js';
import { runTtma } from '../helpers/runTtma.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { attack } from './attacks.js';

let stack: Stack;
let port = 0;
let dir = '';
let secretFile = '';
const keys = () => localAuthKeys(stack.agentSecret);

before(async () => {
  stack = await startStack();
  port = stack.ports.local;
  dir = mkdtempSync(join(tmpdir(), 'ttma-localauth-'));
  secretFile = join(dir, 'agent-secret');
  writeFileSync(secretFile, stack.agentSecret, { mode: 0o600 });
});

after(async () => {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
});

function ttma(args: string[], localPort = port) {
  return runTtma([...args, '--local-port', String(localPort), '--agent-secret-file', secretFile]);
}

/** A request signed over a fresh nonce: its header, and the nonce to check the answer with. */
async function signedFor(method: string, path: string, body: Buffer = Buffer.alloc(0), macPort = port): Promise<{ nonce: string; authorization: string }> {
  const nonce = await localNonce(port, keys());
  return { nonce, authorization: authorizationHeader(nonce, requestMac(keys(), nonce, macPort, method, path, body)) };
}

function send(method: string, path: string, authorization: string, body?: Buffer): Promise<LocalRaw> {
  return localRaw(port, method, path, { authorization }, body);
}

function answerSigned(answer: LocalRaw, nonce: string): boolean {
  const mac = answer.headers[LOCAL_MAC_HEADER];
  return typeof mac === 'string' && macEquals(mac, responseMac(keys(), nonce, port, answer.status, answer.bytes));
}

const callCount = () => stack.gateway.control.recentCalls(100).length;

test('positive: ttma call, calls, recording and dashboard work against the real gateway', async () => {
  const placed = await ttma(['call', '+15551230101']);
  assert.equal(placed.code, 0, placed.stderr);
  const id = (JSON.parse(placed.stdout) as { call_control_id: string }).call_control_id;
  const listed = await ttma(['calls', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.ok((JSON.parse(listed.stdout) as { calls: Array<{ call_control_id: string }> }).calls.some((c) => c.call_control_id === id));
  assert.deepEqual(JSON.parse((await ttma(['recording', '--json'])).stdout), { ok: true, recording: true });
  const link = await ttma(['dashboard', '--json']);
  assert.equal(link.code, 0, link.stderr);
  // A refusal of the gateway's is signed too: ttma shows its code, not "not the gateway".
  const refused = await ttma(['calls', '--recording', 'v3:not-this-deployments', '--out', join(dir, 'x.mp3')]);
  assert.equal(refused.code, 1);
  assert.equal((JSON.parse(refused.stdout) as { error: { code: string } }).error.code, 'TTMA_ERR_CALL_NOT_OWNED');
});

test('positive: a signed request is served and its answer is signed for its nonce', async () => {
  const path = '/v1/local/calls?recent=3&source=gateway';
  const { nonce, authorization } = await signedFor('GET', path);
  const answer = await send('GET', path, authorization);
  assert.equal(answer.status, 200, answer.bytes.toString());
  assert.ok(answerSigned(answer, nonce));
  assert.ok(Array.isArray(answer.json.calls));
});

attack('local operator: the agent secret as a bearer (what ttma used to send to any listener)', async (probe) => {
  const before = callCount();
  const answer = await localRaw(port, 'POST', '/v1/local/calls', { authorization: `Bearer ${stack.agentSecret}` }, Buffer.from('{"to":"+15551230102"}'));
  probe.goal(answer.status === 200, `served with ${answer.status}`);
  assert.equal(answer.status, 401);
  assert.equal(answer.json.error.code, 'TTMA_ERR_AUTH');
  assert.match(answer.json.error.message, /bearer is not accepted/);
  assert.equal(callCount(), before);
});

attack('local operator: a signed request replayed', async (probe) => {
  const body = Buffer.from('{"to":"+15551230103"}');
  const { nonce, authorization } = await signedFor('POST', '/v1/local/calls', body);
  const first = await send('POST', '/v1/local/calls', authorization, body);
  assert.equal(first.status, 200, first.bytes.toString());
  const before = callCount();
  const replay = await send('POST', '/v1/local/calls', authorization, body);
  probe.goal(replay.status === 200, `replay served with ${replay.status}`);
  assert.equal(replay.status, 401);
  assert.equal(replay.json.error.code, 'TTMA_ERR_LOCAL_NONCE');
  assert.match(replay.json.error.message, /already used/);
  assert.ok(answerSigned(replay, nonce), 'the refusal is signed: ttma can show it');
  assert.equal(callCount(), before, 'no second call');
});

attack('local operator: a nonce signed for another path, query, method or body', async (probe) => {
  const recordingOn = Buffer.from('{"recording":true}');
  const cases: Array<[string, string, string, Buffer, string, string, Buffer]> = [
    // what, signed method, path, body; sent method, path, body
    ['another path', 'GET', '/v1/local/recording', Buffer.alloc(0), 'GET', '/v1/local/calls?recent=1', Buffer.alloc(0)],
    ['another query', 'GET', '/v1/local/calls?recent=1', Buffer.alloc(0), 'GET', '/v1/local/calls?recent=1&source=platform', Buffer.alloc(0)],
    ['another method', 'GET', '/v1/local/recordings', Buffer.alloc(0), 'DELETE', '/v1/local/recordings', Buffer.alloc(0)],
    ['another body', 'POST', '/v1/local/recording', recordingOn, 'POST', '/v1/local/recording', Buffer.from('{"recording":false}')],
  ];
  for (const [what, signedMethod, signedPath, signedBody, method, path, body] of cases) {
    const { nonce, authorization } = await signedFor(signedMethod, signedPath, signedBody);
    const answer = await send(method, path, authorization, method === 'POST' ? body : undefined);
    probe.goal(answer.status === 200, `${what}: served with ${answer.status}`);
    assert.equal(answer.status, 401, what);
    assert.equal(answer.json.error.code, 'TTMA_ERR_AUTH', what);
    assert.ok(answerSigned(answer, nonce), what);
    // A failed MAC does not spend the nonce: the request it was signed for still goes through.
    if (what === 'another path' || what === 'another query') assert.equal((await send(signedMethod, signedPath, authorization)).status, 200, `${what}: the nonce is still good for its own request`);
  }
  assert.equal((await signedLocal(port, stack.agentSecret, 'GET', '/v1/local/recording')).json.recording, true, 'recording not switched off');
});

attack('local operator: a wrong MAC, a MAC under another secret, a forged nonce, no header', async (probe) => {
  const path = '/v1/local/calls?recent=1';
  const nonce = await localNonce(port, keys());
  const otherKeys = localAuthKeys(randomBytes(32).toString('base64url'));
  const forged = randomBytes(56).toString('base64url');
  const cases: Array<[string, Record<string, string>, string]> = [
    ['a random MAC', { authorization: authorizationHeader(nonce, randomBytes(32).toString('base64url')) }, 'TTMA_ERR_AUTH'],
    ['a MAC under another secret', { authorization: authorizationHeader(nonce, requestMac(otherKeys, nonce, port, 'GET', path, Buffer.alloc(0))) }, 'TTMA_ERR_AUTH'],
    ['a forged nonce', { authorization: authorizationHeader(forged, requestMac(keys(), forged, port, 'GET', path, Buffer.alloc(0))) }, 'TTMA_ERR_LOCAL_NONCE'],
    ['no authorization', {}, 'TTMA_ERR_AUTH'],
    ['a malformed one', { authorization: `TTMA-HMAC nonce=${nonce}` }, 'TTMA_ERR_AUTH'],
  ];
  for (const [what, headers, code] of cases) {
    const answer = await localRaw(port, 'GET', path, headers);
    probe.goal(answer.status === 200, `${what}: served with ${answer.status}`);
    assert.equal(answer.status, 401, what);
    assert.equal(answer.json.error.code, code, what);
  }
  const malformed = await localRaw(port, 'GET', `${LOCAL_NONCE_PATH}?challenge=short`);
  assert.equal(malformed.status, 400);
});

attack('local operator: a request signed for the port a relay listens on, forwarded to the gateway', async (probe) => {
  const before = callCount();
  const body = Buffer.from('{"to":"+15551230104"}');
  // The nonce is the gateway's (a relay fetched it), the MAC names the port ttma connected to.
  const { authorization } = await signedFor('POST', '/v1/local/calls', body, port + 1);
  const answer = await send('POST', '/v1/local/calls', authorization, body);
  probe.goal(answer.status === 200, `served with ${answer.status}`);
  assert.equal(answer.status, 401);
  assert.equal(callCount(), before);
});

attack('local operator: ttma pointed at a relay to the real gateway on another port', async (probe) => {
  const seen: string[] = [];
  const relay = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    // A careful relay: Host rewritten to the gateway's own, so the local-request guard lets it through.
    const upstream = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${port}` }, agent: false }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const relayPort = (relay.address() as AddressInfo).port;
  try {
    const before = callCount();
    const run = await ttma(['call', '+15551230105'], relayPort);
    probe.goal(run.code === 0, `ttma exited ${run.code} through the relay`);
    assert.equal(run.code, 1);
    assert.equal((JSON.parse(run.stdout) as { error: { code: string } }).error.code, 'TTMA_ERR_LOCAL_UNVERIFIED');
    assert.equal(callCount(), before, 'no call placed');
    assert.equal(seen.length, 1, 'the relay got the nonce request and nothing after it');
    assert.match(seen[0]!, /^GET \/v1\/local\/nonce\?challenge=/);
  } finally {
    await new Promise((resolve) => relay.close(resolve));
  }
});

attack('local operator: a flood of nonce requests while ttma works', async (probe) => {
  let stop = false;
  let asked = 0;
  const flooders = Array.from({ length: 16 }, async () => {
    while (!stop) {
      await localRaw(port, 'GET', `${LOCAL_NONCE_PATH}?challenge=${randomBytes(32).toString('base64url')}`);
      asked++;
    }
  });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const run = await ttma(['calls', '--json']);
    probe.goal(run.code !== 0, `ttma locked out: exit ${run.code} ${run.stderr}`);
    assert.equal(run.code, 0);
  } finally {
    stop = true;
    await Promise.all(flooders);
  }
  probe.note(`${asked} nonces asked for meanwhile`);
  assert.ok(asked > 100, `the flood ran (${asked})`);
});
