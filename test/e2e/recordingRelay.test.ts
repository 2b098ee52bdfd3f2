/**
 * `ttma calls --recording` streams: a recording larger than the 64 MiB the
 * gateway once relayed whole goes platform -> gateway -> file a chunk at a
 * time (the gateway's memory does not grow by the file), byte for byte; a
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

  it('a 72 MiB recording arrives byte for byte, and the gateway never holds it whole', async () => {
    const out = join(dir, 'big.mp3');
    const baseline = process.memoryUsage().arrayBuffers;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 5);
    const run = await ttma(['calls', '--recording', callId, '--out', out, ...flags()]);
    clearInterval(sampler);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { ok: true, call_control_id: callId, file: out, bytes: BIG, sha256 });
    assert.equal(statSync(out).size, BIG);
    assert.equal(createHash('sha256').update(readFileSync(out)).digest('hex'), sha256);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    // The platform and the gateway share this process: a whole-file relay would hold 72 MiB here at once.
    const grew = peak - baseline;
    assert.ok(grew < 24 * 1024 * 1024, `buffers grew by ${(grew / 1048576).toFixed(1)} MiB during the download`);
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
    const cutter = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': String(1024 * 1024) });
      res.write(Buffer.alloc(256 * 1024, 1), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    await new Promise<void>((resolve) => cutter.listen(0, '127.0.0.1', resolve));
    try {
      const out = join(dir, 'cut.mp3');
      const port = (cutter.address() as AddressInfo).port;
      const run = await ttma(['calls', '--recording', callId, '--out', out, '--local-port', String(port), '--agent-secret-file', secretFile]);
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stderr, /recording cut short after 262144 bytes .*nothing saved/);
      assert.equal(existsSync(out), false, 'no partial file');
    } finally {
      cutter.close();
    }
  });
});
