/**
 * `ttma calls --recording` streams: a recording larger than the 64 MiB the
 * gateway once relayed whole goes platform -> gateway -> file a chunk at a
 * time (a reader that stops holds the platform back), byte for byte; a
 * download cut part way leaves no file and says so; an existing file is
 * never touched. Real platform, gateway and simulator in this process, the
 * CLI in a child process of its own.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { LocalOperatorAuth } from '../../src/front/LocalOperatorAuth.js';
import { LOCAL_MAC_HEADER, LOCAL_NONCE_PATH, parseAuthorization } from '../../src/wire/localAuth.js';
import { localAuthorization } from '../helpers/localAuth.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { recordedCall } from '../platform/dashboardHelpers.js';

const TTMA = fileURLToPath(new URL('../../src/cli/ttma.js', import.meta.url));
/** Past the 64 MiB the gateway used to hold whole. */
const BIG = 72 * 1024 * 1024;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function ttma(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TTMA, ...args], { timeout: 60_000, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('ttma calls --recording streams through the gateway', { timeout: 120_000 }, () => {
  let stack: Stack;
  let dir: string;
  let recordingsDir: string;
  let secretFile: string;
  let callId: string;
  let sha256: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ttma-recording-relay-'));
    recordingsDir = join(dir, 'recordings');
    stack = await startStack({}, { signWith: 'node', platform: { recordingsDir, cdr: { attempts: 5, backoffMs: 50 } } });
    secretFile = join(dir, 'agent-secret');
    writeFileSync(secretFile, stack.agentSecret, { mode: 0o600 });
    callId = await recordedCall(stack, '+15550900001', { stored: true });
    // The stored copy grows to 72 MiB (a long call); its record says so, as the fetcher would have written it.
    const record = (await stack.platform.calls.get(callId))!.recording!;
    const big = randomBytes(BIG);
    writeFileSync(join(recordingsDir, record.file!), big, { mode: 0o600 });
    sha256 = createHash('sha256').update(big).digest('hex');
    await stack.platform.calls.patchRecording(callId, { sha256, bytes: BIG });
  });
  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const flags = () => ['--local-port', String(stack.ports.local), '--agent-secret-file', secretFile];

  it('a 72 MiB recording arrives byte for byte, the file 0600', async () => {
    const out = join(dir, 'big.mp3');
    const run = await ttma(['calls', '--recording', callId, '--out', out, ...flags()]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { ok: true, call_control_id: callId, file: out, bytes: BIG, sha256 });
    assert.equal(statSync(out).size, BIG);
    assert.equal(createHash('sha256').update(readFileSync(out)).digest('hex'), sha256);
    assert.equal(statSync(out).mode & 0o777, 0o600);
  });

  it('a reader that stops holds the platform back: the gateway pulls a few MiB, never the file', async () => {
    // Count what the gateway takes from the platform (a tap on the answer it relays; the relay's pause still applies).
    const control = stack.gateway.control;
    const original = control.platformRecording.bind(control);
    let pulled = 0;
    control.platformRecording = async (id: string) => {
      const download = await original(id);
      download.body.on('data', (chunk: Buffer) => (pulled += chunk.length));
      return download;
    };
    try {
      const path = `/v1/local/calls/${encodeURIComponent(callId)}/recording.mp3`;
      const authorization = await localAuthorization(stack.ports.local, stack.agentSecret, 'GET', path);
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: stack.ports.local, path, headers: { authorization }, agent: false }, resolve).on('error', reject);
      });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-length'], String(BIG));
      const hash = createHash('sha256');
      let received = 0;
      let pulledWhilePaused = -1;
      await new Promise<void>((resolve, reject) => {
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          received += chunk.length;
          if (pulledWhilePaused !== -1) return;
          pulledWhilePaused = 0;
          res.pause();
          setTimeout(() => {
            pulledWhilePaused = pulled;
            res.resume();
          }, 800);
        });
        res.on('end', resolve);
        res.on('error', reject);
      });
      assert.equal(received, BIG);
      assert.equal(hash.digest('hex'), sha256);
      // Socket buffers on the way and a chunk in uWS; a whole-file relay would have taken all 72 MiB by then.
      assert.ok(pulledWhilePaused < 24 * 1024 * 1024, `the gateway took ${(pulledWhilePaused / 1048576).toFixed(1)} MiB from the platform while its reader stood still`);
    } finally {
      control.platformRecording = original;
    }
  });

  it('an existing file is neither overwritten nor removed', async () => {
    const out = join(dir, 'kept.mp3');
    writeFileSync(out, 'mine');
    const run = await ttma(['calls', '--recording', callId, '--out', out, ...flags()]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /already exists \(not overwritten\)/);
    assert.equal(readFileSync(out, 'utf8'), 'mine');
  });

  it('a download cut part way leaves no file and says how far it got', async () => {
    // Stands in for a gateway whose platform connection broke mid-recording: 1 MiB declared, 256 KiB sent, then a reset.
    // It holds the agent secret (its nonce and its signed headers are a gateway's), so ttma takes its answer.
    const auth = new LocalOperatorAuth(stack.agentSecret);
    let port = 0;
    const cutter = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === LOCAL_NONCE_PATH) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(auth.issue(url.searchParams.get('challenge') ?? '', port)));
        return;
      }
      const nonce = parseAuthorization(String(req.headers.authorization))!.nonce;
      const length = 1024 * 1024;
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': String(length), [LOCAL_MAC_HEADER]: auth.sign(nonce, port, 200, { contentType: 'audio/mpeg', length }) });
      res.write(Buffer.alloc(256 * 1024, 1), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    await new Promise<void>((resolve) => cutter.listen(0, '127.0.0.1', resolve));
    try {
      const out = join(dir, 'cut.mp3');
      port = (cutter.address() as AddressInfo).port;
      const run = await ttma(['calls', '--recording', callId, '--out', out, '--local-port', String(port), '--agent-secret-file', secretFile]);
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stderr, /recording cut short after 262144 bytes .*nothing saved/);
      assert.equal(existsSync(out), false, 'no partial file');
    } finally {
      cutter.close();
    }
  });
});
