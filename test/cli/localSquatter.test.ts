/**
 * `ttma call|calls|recording|dashboard` against a process that is not the
 * gateway but listens on its local port (the gateway down, restarting, or
 * on another port; any local user can bind 127.0.0.1:8081 then). Before,
 * every command sent the agent secret as a bearer to it and printed its fake
 * `{"ok":true}`. Now the squatter gets a random challenge and nothing else
 * (no secret, no MAC or other value computed from it), and every command
 * exits 1 with TTMA_ERR_LOCAL_UNVERIFIED.
 *
 * And a listener that does get past the nonce step (here: one the test hands
 * the secret's keys, standing for any flaw there) still cannot pass off an
 * answer: reflecting the request's MAC, or signing another status or body,
 * is refused; signing the answer it sends is accepted (so the refusals are
 * the signature check's).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalOperatorAuth } from '../../src/front/LocalOperatorAuth.js';
import { LOCAL_MAC_HEADER, LOCAL_NONCE_PATH, localAuthKeys, parseAuthorization, responseMac } from '../../src/wire/localAuth.js';
import { runTtma } from '../helpers/runTtma.js';

const SECRET = randomBytes(32).toString('base64url');

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A listener on a free loopback port that keeps every byte it is sent. */
async function listener(answer: (seen: Seen, res: http.ServerResponse) => void): Promise<{ port: number; seen: Seen[]; raw: () => Buffer; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const raw: Buffer[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(entry);
      answer(entry, res);
    });
  });
  server.on('connection', (socket) => socket.on('data', (c: Buffer) => raw.push(Buffer.from(c))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    raw: () => Buffer.concat(raw),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Whatever a command could want to hear, in one answer. */
const FAKE = { ok: true, call_control_id: 'v3:fake', from: '+15550100000', to: '+15551234567', source: 'gateway', calls: [], recording: true, stopped: 0, deleted: 0, failed: 0, more: false, recording_now: 0, url: 'http://evil.example/x', expires_at: new Date(Date.now() + 60_000).toISOString() };

function json(res: http.ServerResponse, body: unknown, headers: Record<string, string> = {}, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

describe('ttma and a listener that is not the gateway', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ttma-squatter-'));
  const secretFile = join(dir, 'agent-secret');
  before(() => writeFileSync(secretFile, SECRET, { mode: 0o600 }));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const commands = (out: string): string[][] => [
    ['call', '+15551234567'],
    ['calls', '--json'],
    ['calls', '--source', 'platform', '--json'],
    ['calls', '--recording', 'v3:abc', '--out', out],
    ['calls', '--delete-recording', 'v3:abc'],
    ['recording', '--json'],
    ['recording', 'off', '--json'],
    ['recording', 'off', '--delete-existing', '--json'],
    ['dashboard', '--json'],
  ];

  const squatters: Array<[string, (seen: Seen, res: http.ServerResponse) => void]> = [
    // The reviewer's: {"ok":true} and the like to everything.
    ['answers everything with success', (_seen, res) => json(res, FAKE)],
    // One that knows the protocol: a well-formed nonce, a proof it cannot make.
    ['fakes the nonce step', (seen, res) => (seen.url.startsWith(LOCAL_NONCE_PATH) ? json(res, { nonce: randomBytes(56).toString('base64url'), proof: randomBytes(32).toString('base64url'), expires_in_ms: 30_000 }) : json(res, FAKE))],
  ];

  for (const [what, answer] of squatters) {
    it(`a squatter that ${what} learns nothing of the secret, and every command exits 1 saying it is not the gateway`, async () => {
      const squatter = await listener(answer);
      try {
        const out = join(dir, `${what.replaceAll(' ', '-')}.mp3`);
        for (const args of commands(out)) {
          const run = await runTtma([...args, '--local-port', String(squatter.port), '--agent-secret-file', secretFile]);
          assert.equal(run.code, 1, `${args.join(' ')}: ${run.stdout} ${run.stderr}`);
          const line = JSON.parse(run.stdout.trim()) as { ok: boolean; error: { code: string; message: string } };
          assert.equal(line.ok, false, args.join(' '));
          assert.equal(line.error.code, 'TTMA_ERR_LOCAL_UNVERIFIED', args.join(' '));
          assert.ok(
            line.error.message.startsWith(`the listener on 127.0.0.1:${squatter.port} is not this deployment's gateway (its answer is not signed with the agent secret): is the gateway running on this port?`),
            line.error.message,
          );
          assert.match(run.stderr, /TTMA_ERR_LOCAL_UNVERIFIED/);
        }
        const human = await runTtma(['calls', '--local-port', String(squatter.port), '--agent-secret-file', secretFile]);
        assert.deepEqual({ code: human.code, stdout: human.stdout }, { code: 1, stdout: '' });
        assert.match(human.stderr, /is not this deployment's gateway/);
        assert.equal(existsSync(out), false, 'no recording file from a squatter');

        // All it got: one nonce request per command, a fresh random challenge, no other header, no body.
        const challenges = new Set<string>();
        for (const seen of squatter.seen) {
          const match = /^\/v1\/local\/nonce\?challenge=([A-Za-z0-9_-]{43})$/.exec(seen.url);
          assert.ok(match && seen.method === 'GET', `${seen.method} ${seen.url}`);
          challenges.add(match[1]!);
          assert.deepEqual(Object.keys(seen.headers).sort(), ['connection', 'host']);
          assert.equal(seen.body.length, 0);
        }
        assert.equal(challenges.size, squatter.seen.length, 'a new challenge each time');
        assert.equal(squatter.seen.length, commands(out).length + 1);
        const raw = squatter.raw().toString('latin1');
        for (const form of [SECRET, Buffer.from(SECRET).toString('base64'), Buffer.from(SECRET).toString('hex'), 'authorization', 'TTMA-HMAC']) {
          assert.equal(raw.toLowerCase().includes(form.toLowerCase()), false, `the squatter saw ${form.slice(0, 12)}…`);
        }
      } finally {
        await squatter.close();
      }
    });
  }

  /** A listener past the nonce step: it issues and proves nonces with the secret's keys, then answers as `sign` says. */
  async function pastTheNonce(sign: (request: Seen, nonce: string, port: number, body: Buffer) => { status: number; mac: string | null }) {
    const auth = new LocalOperatorAuth(SECRET);
    const keys = localAuthKeys(SECRET);
    let port = 0;
    const server = await listener((seen, res) => {
      if (seen.url.startsWith(LOCAL_NONCE_PATH)) return json(res, auth.issue(new URL(seen.url, 'http://x').searchParams.get('challenge') ?? '', port));
      const nonce = parseAuthorization(String(seen.headers.authorization))!.nonce;
      const body = Buffer.from(JSON.stringify(FAKE));
      const { status, mac } = sign(seen, nonce, port, body);
      res.writeHead(status, { 'content-type': 'application/json', ...(mac !== null ? { [LOCAL_MAC_HEADER]: mac } : {}) });
      res.end(body);
    });
    port = server.port;
    return { server, keys };
  }

  it('refuses an answer whose MAC is reflected from the request, missing, or over another status or body; accepts a good one', async () => {
    const keys = localAuthKeys(SECRET);
    const cases: Array<[string, (request: Seen, nonce: string, port: number, body: Buffer) => { status: number; mac: string | null }, number]> = [
      ['reflects the request MAC', (request) => ({ status: 200, mac: parseAuthorization(String(request.headers.authorization))!.mac }), 1],
      ['sends no MAC', () => ({ status: 200, mac: null }), 1],
      ['signs a refusal, sends a success', (_r, nonce, port, body) => ({ status: 200, mac: responseMac(keys, nonce, port, 401, body) }), 1],
      ['signs another body', (_r, nonce, port) => ({ status: 200, mac: responseMac(keys, nonce, port, 200, Buffer.from('{"ok":false}')) }), 1],
      ['signs for another port', (_r, nonce, port, body) => ({ status: 200, mac: responseMac(keys, nonce, port + 1, 200, body) }), 1],
      ['signs what it sends', (_r, nonce, port, body) => ({ status: 200, mac: responseMac(keys, nonce, port, 200, body) }), 0],
    ];
    for (const [what, sign, code] of cases) {
      const { server } = await pastTheNonce(sign);
      try {
        const run = await runTtma(['call', '+15551234567', '--local-port', String(server.port), '--agent-secret-file', secretFile]);
        assert.equal(run.code, code, `${what}: ${run.stdout} ${run.stderr}`);
        const line = JSON.parse(run.stdout.trim()) as { ok: boolean; error?: { code: string }; call_control_id?: string };
        if (code === 0) assert.equal(line.call_control_id, 'v3:fake', what);
        else {
          assert.equal(line.error?.code, 'TTMA_ERR_LOCAL_UNVERIFIED', what);
          assert.doesNotMatch(run.stdout, /v3:fake/, `${what}: nothing of its body is shown`);
        }
        assert.equal(server.seen.length, 2, what);
        assert.match(String(server.seen[1]!.headers.authorization), /^TTMA-HMAC nonce=[A-Za-z0-9_-]{75},mac=[A-Za-z0-9_-]{43}$/);
      } finally {
        await server.close();
      }
    }
  });
});
