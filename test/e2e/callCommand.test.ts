/**
 * `ttma call` and `ttma calls` as separate processes against real simulator,
 * platform and gateway processes: an operator's outbound call goes through
 * the gateway and the platform's signalling proxy (the simulator sees it with
 * the deployment's number and the platform's connection), refused
 * destinations get the platform's own error code, the gateway's call list
 * shows the call, and the call's usage report reaches the platform over the
 * gateway's control connection and agrees with the provider's record.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { freePorts, startTtma, stopChild, type Child } from '../../src/cli/processes.js';
import { simProcessArgs } from '../helpers/simProcess.js';

const TTMA = fileURLToPath(new URL('../../src/cli/ttma.js', import.meta.url));
const NUMBER = '+15550100000';
const HOST = 'call-cli.trycloudflare.com';
const ADMIN_TOKEN = randomBytes(24).toString('base64url');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function ttma(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TTMA, ...args], { timeout: timeoutMs, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function jsonLine(run: Run): Record<string, any> {
  const lines = run.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one JSON line, got: ${run.stdout}`);
  return JSON.parse(lines[0]!) as Record<string, any>;
}

async function eventually<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('ttma call / ttma calls against running processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ttma-call-'));
  const children: Child[] = [];
  let simPort = 0;
  let platformPort = 0;
  let localPort = 0;
  let apiKey = '';
  let secretFile = '';
  let flags: string[] = [];

  const file = (name: string, value: string) => {
    const path = join(dir, name);
    writeFileSync(path, value, { mode: 0o600 });
    return path;
  };
  const sim = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${simPort}${path}`, { headers: { authorization: `Bearer ${apiKey}` } });
    return (await res.json()) as Record<string, any>;
  };
  const admin = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${platformPort}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return (await res.json()) as Record<string, any>;
  };

  before(async () => {
    const keys = nacl.sign.keyPair();
    apiKey = randomBytes(16).toString('hex');
    const agentSecret = randomBytes(32).toString('base64url');
    let tunnelPort = 0;
    [simPort, platformPort, tunnelPort, localPort] = (await freePorts(4)) as [number, number, number, number];
    const simFiles = { apiKey: file('api', apiKey), signingKey: file('signing', Buffer.from(keys.secretKey).toString('base64')) };
    children.push(await startTtma('sim', simProcessArgs({ sim: simPort, platform: platformPort, tunnel: tunnelPort }, simFiles, HOST), join(dir, 'sim.log')));
    const publicKey = file('public', Buffer.from(keys.publicKey).toString('base64'));
    // The dialling policy allows North American numbers only.
    const deployment = { id: 'call-cli', numbers: [NUMBER], tunnelHost: HOST, agentSecret, dialPolicy: { allowPrefixes: ['+1'] } };
    children.push(await startTtma('platform', [
      'platform', '--port', String(platformPort), '--provider-url', `http://127.0.0.1:${simPort}`,
      '--provider-api-key-file', join(dir, 'api'), '--webhook-public-key-file', publicKey,
      '--admin-token-file', file('admin', ADMIN_TOKEN), '--deployment-file', file('deployment.json', JSON.stringify(deployment)),
    ], join(dir, 'platform.log')));
    secretFile = file('agent-secret', agentSecret);
    children.push(await startTtma('gateway', [
      'gateway', '--tunnel-port', String(tunnelPort), '--local-port', String(localPort), '--workers', '1',
      '--public-host', HOST, '--webhook-public-key-file', publicKey, '--platform-url', `http://127.0.0.1:${platformPort}`,
      '--deployment-id', 'call-cli', '--agent-secret-file', secretFile, '--number', NUMBER,
    ], join(dir, 'gateway.log')));
    flags = ['--local-port', String(localPort), '--agent-secret-file', secretFile];
    // The gateway's control connection to the platform is up.
    await eventually('the control connection', async () => {
      const status = (await (await fetch(`http://127.0.0.1:${localPort}/debug/status`)).json()) as { control: { state: string } };
      return status.control.state === 'open' ? true : null;
    });
  });

  after(async () => {
    for (const child of children.reverse()) await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  });

  it('places a call through the platform, lists it, and its usage report agrees with the provider', async () => {
    const placed = await ttma(['call', '+15551230001', ...flags]);
    assert.equal(placed.code, 0, placed.stderr);
    const line = jsonLine(placed);
    assert.equal(line.ok, true);
    assert.equal(line.to, '+15551230001');
    assert.equal(line.from, NUMBER);
    const id = line.call_control_id as string;
    assert.match(id, /^v3:/);
    // The provider heard of it from the platform (the gateway holds no provider key): outgoing, from the deployment's number.
    const report = await sim(`/sim/calls/${encodeURIComponent(id)}`);
    assert.equal(report.direction, 'outgoing');
    assert.equal(report.cdr.from, NUMBER);
    assert.equal(report.cdr.to, '+15551230001');

    const listed = await ttma(['calls', '--recent', '5', '--json', ...flags]);
    assert.equal(listed.code, 0, listed.stderr);
    const calls = jsonLine(listed).calls as Array<Record<string, unknown>>;
    assert.equal(calls[0]?.['call_control_id'], id);
    assert.equal(calls[0]?.['direction'], 'outgoing');

    // The simulated callee talks 5 s and hangs up; the gateway reports its duration over the control connection.
    const usage = await eventually('the cross-checked usage', async () => {
      const entries = (await admin(`/v1/admin/usage?deployment=call-cli`)).usage as Array<Record<string, any>>;
      const entry = entries.find((e) => e.call_control_id === id);
      return entry && entry.gateway_ms !== null && entry.provider_ms !== null ? entry : null;
    });
    assert.deepEqual(usage.flags, [], JSON.stringify(usage));
    assert.ok(Math.abs(usage.gateway_ms - usage.provider_ms) < 2_000, JSON.stringify(usage));

    // The platform's view: the provider's billed figures for the same call.
    const platformView = jsonLine(await ttma(['calls', '--source', 'platform', '--json', ...flags]));
    assert.equal(platformView.source, 'platform');
    const billed = (platformView.calls as Array<Record<string, any>>).find((c) => c.call_control_id === id)!;
    assert.equal(billed.duration_ms, usage.provider_ms);
    assert.equal(billed.billed_minutes, 1);
    assert.equal(billed.cost_usd, '0.0100');
    assert.equal(billed.hangup_cause, 'normal_clearing');

    // Recorded (on by default): the deployment saves it through the gateway, byte for byte what the platform plays.
    assert.equal(billed.recorded, true);
    const out = join(dir, 'call.mp3');
    const saved = await eventually('the saved recording', async () => {
      const run = await ttma(['calls', '--recording', id, '--out', out, ...flags]);
      return run.code === 0 ? jsonLine(run) : null;
    });
    const played = Buffer.from(await (await fetch(`http://127.0.0.1:${platformPort}/v1/admin/recordings/${encodeURIComponent(id)}.mp3`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).arrayBuffer());
    const file = readFileSync(out);
    assert.deepEqual(file, played);
    assert.equal(saved.bytes, file.length);
    assert.equal(saved.sha256, createHash('sha256').update(file).digest('hex'));
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const again = await ttma(['calls', '--recording', id, '--out', out, ...flags]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists/);
    const stranger = await ttma(['calls', '--recording', 'v3:not-this-deployments-call', '--out', join(dir, 'x.mp3'), ...flags]);
    assert.equal(stranger.code, 1);
    assert.equal(jsonLine(stranger).error.code, 'TTMA_ERR_CALL_NOT_OWNED');
    assert.equal(existsSync(join(dir, 'x.mp3')), false);

    const ended = jsonLine(await ttma(['calls', '--json', ...flags])).calls as Array<Record<string, any>>;
    const mine = ended.find((c) => c.call_control_id === id)!;
    assert.equal(mine.state, 'ended');
    assert.ok(mine.duration_ms >= 4_000, `duration ${mine.duration_ms}`);
    const table = await ttma(['calls', ...flags]);
    assert.equal(table.code, 0);
    assert.match(table.stdout, new RegExp(`out  \\${NUMBER} -> \\+15551230001  ended`));
  });

  it("refuses what the platform's policy refuses, with the platform's code", async () => {
    const cases: Array<[string[], string, RegExp]> = [
      [['+442071838750'], 'TTMA_ERR_DIAL_POLICY', /outside the deployment's allowed prefixes/],
      [['--to', NUMBER], 'TTMA_ERR_DIAL_POLICY', /may not dial its own number/],
      [['--to', '+19005550100'], 'TTMA_ERR_DESTINATION_REFUSED', /premium/i],
      [['+15551230002', '--from', '+15550109999'], 'TTMA_ERR_NUMBER_NOT_OWNED', /from must be one of this deployment's numbers/],
    ];
    const before = (await sim('/sim/calls')).data.length as number;
    for (const [args, code, message] of cases) {
      const run = await ttma(['call', ...args, ...flags]);
      assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
      const line = jsonLine(run);
      assert.equal(line.ok, false);
      assert.equal(line.error.code, code, JSON.stringify(line));
      assert.match(line.error.message, message);
      assert.match(run.stderr, new RegExp(`ttma call: refused: ${code}`));
    }
    const afterCount = (await sim('/sim/calls')).data.length as number;
    assert.equal(afterCount, before, 'no refused call reached the provider');
  });

  it('refuses a wrong secret, malformed numbers, and says when no gateway is running', async () => {
    const wrong = await ttma(['call', '+15551230003', '--local-port', String(localPort), '--agent-secret-file', join(dir, 'admin')]);
    assert.equal(wrong.code, 1);
    assert.equal(jsonLine(wrong).error.code, 'TTMA_ERR_LOCAL_UNVERIFIED');
    const wrongList = await ttma(['calls', '--json', '--local-port', String(localPort), '--agent-secret-file', join(dir, 'admin')]);
    assert.equal(wrongList.code, 1);
    for (const bad of ['5551234567', '+1555; rm -rf /', '+1555$(id)', '+15551234567\n+15551234568', '+0123456789']) {
      const run = await ttma(['call', bad, ...flags]);
      assert.equal(run.code, 2, `${JSON.stringify(bad)}: ${run.stderr}`);
      assert.match(run.stderr, /TTMA_ERR_CLI_USAGE: ttma call: .* is not one E\.164 number/);
    }
    assert.equal((await ttma(['call', ...flags])).code, 2);
    assert.equal((await ttma(['call', '+15551230004', '--to', '+15551230005', ...flags])).code, 2);
    assert.equal((await ttma(['calls', '--recent', '0', ...flags])).code, 2);
    assert.equal((await ttma(['calls', '--recent', '101', ...flags])).code, 2);
    assert.equal((await ttma(['calls', '--source', 'elsewhere', ...flags])).code, 2);
    // A recording wants a well-formed call id and a file, together; with a wrong secret ttma cannot verify the gateway and sends nothing.
    const alone = await ttma(['calls', '--recording', 'v3:abc', ...flags]);
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /--recording <call id> and --out <file> go together/);
    const hostile = await ttma(['calls', '--recording', '../../etc/passwd', '--out', join(dir, 'h.mp3'), ...flags]);
    assert.equal(hostile.code, 2);
    assert.match(hostile.stderr, /--recording takes a call id/);
    const wrongRecording = await ttma(['calls', '--recording', 'v3:abc', '--out', join(dir, 'w.mp3'), '--local-port', String(localPort), '--agent-secret-file', join(dir, 'admin')]);
    assert.equal(wrongRecording.code, 1);
    assert.equal(jsonLine(wrongRecording).error.code, 'TTMA_ERR_LOCAL_UNVERIFIED');
    assert.equal(existsSync(join(dir, 'w.mp3')), false);
    const [unused] = (await freePorts(1)) as [number];
    const none = await ttma(['call', '+15551230006', '--local-port', String(unused), '--agent-secret-file', secretFile]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no gateway answering on 127\.0\.0\.1:\d+/);
    // Its stdout is one JSON line, gateway or not; so is that of every command asked for --json.
    assert.deepEqual(jsonLine(none), { ok: false, error: { code: 'TTMA_ERR_CONFIG', message: `no gateway answering on 127.0.0.1:${unused} (is the gateway running? use --local-port)` } });
    const nowhere = ['--local-port', String(unused), '--agent-secret-file', secretFile];
    for (const args of [['recording', '--json'], ['recording', 'off', '--delete-existing', '--json'], ['dashboard', '--json'], ['calls', '--json'], ['calls', '--recording', 'v3:abc', '--out', join(dir, 'nowhere.mp3')], ['calls', '--delete-recording', 'v3:abc']]) {
      const run = await ttma([...args, ...nowhere]);
      assert.equal(run.code, 1, args.join(' '));
      assert.equal(jsonLine(run).error.code, 'TTMA_ERR_CONFIG', args.join(' '));
    }
    assert.equal(existsSync(join(dir, 'nowhere.mp3')), false);
    const plain = await ttma(['calls', ...nowhere]);
    assert.deepEqual({ code: plain.code, stdout: plain.stdout }, { code: 1, stdout: '' }, 'a listing for people keeps its error on stderr');
    // The default secret location is under the install directory.
    const fromInstallDir = await ttma(['calls', '--json', '--local-port', String(localPort)], { TTMA_INSTALL_DIR: join(dir, 'missing-install') });
    assert.equal(fromInstallDir.code, 2);
    assert.match(fromInstallDir.stderr, /no agent secret at \S*missing-install\/credentials\/agent-secret .*--install-dir/);
  });

  it('ttma dashboard hands out a one-time link that signs a browser into the deployment\'s own dashboard', async () => {
    const run = await ttma(['dashboard', '--json', ...flags]);
    assert.equal(run.code, 0, run.stderr);
    const line = jsonLine(run);
    assert.equal(line.ok, true);
    const url = new URL(line.url as string);
    assert.equal(url.origin, `http://127.0.0.1:${platformPort}`, 'the platform, as this gateway reaches it');
    assert.equal(url.pathname, '/v1/dashboard/login');
    assert.match(url.searchParams.get('code') ?? '', /^[A-Za-z0-9_-]{43}$/);
    const expiresIn = Date.parse(line.expires_at as string) - Date.now();
    assert.ok(expiresIn > 30_000 && expiresIn <= 60_000, `expires in ${expiresIn} ms`);
    assert.equal((await fetch(url)).status, 200);
    const signIn = await fetch(new URL('/v1/dashboard/login', url), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: url.origin },
      body: new URLSearchParams({ code: url.searchParams.get('code')! }).toString(),
    });
    assert.equal(signIn.status, 303);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]!;
    const page = await fetch(new URL('/v1/dashboard/', url), { headers: { cookie } });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /Deployment <strong>call-cli<\/strong>/);
    assert.match(html, /\+15551230001/, 'the call placed above is listed');
    // Human output: the link on its own line; a wrong secret gets no link (ttma cannot verify the gateway with it).
    const human = await ttma(['dashboard', ...flags]);
    assert.match(human.stdout, /^Open this link in a browser before \S+ \(it works once\):\nhttp:\/\/127\.0\.0\.1:\d+\/v1\/dashboard\/login\?code=[A-Za-z0-9_-]{43}\n$/);
    const wrong = await ttma(['dashboard', '--json', '--local-port', String(localPort), '--agent-secret-file', join(dir, 'admin')]);
    assert.equal(wrong.code, 1);
    assert.equal(jsonLine(wrong).error.code, 'TTMA_ERR_LOCAL_UNVERIFIED');
    assert.equal((await ttma(['dashboard', 'now', ...flags])).code, 2);
  });

  it('ttma calls --delete-recording deletes one of its recordings at the platform and the provider', async () => {
    const listed = jsonLine(await ttma(['calls', '--source', 'platform', '--json', ...flags]));
    const recorded = (listed.calls as Array<Record<string, any>>).find((c) => c.recorded === true);
    assert.ok(recorded, 'the call placed above was recorded');
    const id = recorded.call_control_id as string;
    const run = await ttma(['calls', '--delete-recording', id, ...flags]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(jsonLine(run), { ok: true, call_control_id: id, stored_file_deleted: false, provider_recordings_deleted: 1, already: null });
    const recordings = await sim('/v2/recordings');
    assert.equal((recordings.data as Array<Record<string, unknown>>).some((r) => r['call_control_id'] === id), false, 'gone at the provider');
    const fetchAfter = await ttma(['calls', '--recording', id, '--out', join(dir, 'deleted.mp3'), ...flags]);
    assert.equal(fetchAfter.code, 1);
    assert.equal(existsSync(join(dir, 'deleted.mp3')), false);
    const hostile = await ttma(['calls', '--delete-recording', '../x', ...flags]);
    assert.equal(hostile.code, 2);
    assert.equal((await ttma(['calls', '--delete-recording', id, '--out', join(dir, 'x.mp3'), ...flags])).code, 2);
  });

  it('ttma recording reads and flips the deployment\'s recording switch at the platform', async () => {
    assert.deepEqual(jsonLine(await ttma(['recording', '--json', ...flags])), { ok: true, recording: true });
    const off = await ttma(['recording', 'off', ...flags]);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /^recording is off: calls are not recorded, and nothing the provider saves is kept\n$/);
    const status = (await admin('/v1/admin/deployments/call-cli')) as { recording?: boolean };
    assert.equal(status.recording, false, JSON.stringify(status));
    assert.deepEqual(jsonLine(await ttma(['recording', '--json', ...flags])), { ok: true, recording: false });
    assert.deepEqual(jsonLine(await ttma(['recording', 'on', '--json', ...flags])), { ok: true, recording: true, stopped: 0 });
    // Only on or off; with a wrong secret ttma cannot verify the gateway, sends nothing, and nothing changes.
    const maybe = await ttma(['recording', 'maybe', ...flags]);
    assert.equal(maybe.code, 2);
    assert.match(maybe.stderr, /"maybe" is not on or off/);
    assert.equal((await ttma(['recording', 'off', 'now', ...flags])).code, 2);
    const wrong = await ttma(['recording', 'off', '--json', '--local-port', String(localPort), '--agent-secret-file', join(dir, 'admin')]);
    assert.equal(wrong.code, 1);
    assert.equal(jsonLine(wrong).error.code, 'TTMA_ERR_LOCAL_UNVERIFIED');
    assert.deepEqual(jsonLine(await ttma(['recording', '--json', ...flags])), { ok: true, recording: true });
  });

  it('ttma recording off --delete-existing turns recording off and deletes every recording kept, with progress', async () => {
    const recordedNow = async () => {
      const listed = jsonLine(await ttma(['calls', '--source', 'platform', '--recent', '100', '--json', ...flags]));
      return (listed.calls as Array<Record<string, unknown>>).filter((c) => c.recorded === true).map((c) => String(c.call_control_id));
    };
    // A call of its own (the earlier ones' recordings were deleted above), recorded by default.
    const placed = jsonLine(await ttma(['call', '+15551230009', ...flags]));
    const kept = await eventually('the new call recorded', async () => {
      const ids = await recordedNow();
      return ids.includes(String(placed.call_control_id)) ? ids : null;
    });
    const run = await ttma(['recording', 'off', '--delete-existing', ...flags]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^recording is off: calls are not recorded, and nothing the provider saves is kept\n\d+ recordings? deleted, here and at the phone provider\n$/);
    assert.match(run.stderr, /^ttma recording: \d+ recordings? deleted\n$/, 'progress on stderr');
    assert.ok(Number(/(\d+) recording/.exec(run.stdout)?.[1]) >= kept.length);
    assert.deepEqual(await recordedNow(), []);
    const fetched = await ttma(['calls', '--recording', kept[0]!, '--out', join(dir, 'after-delete-all.mp3'), ...flags]);
    assert.equal(fetched.code, 1);
    assert.equal(existsSync(join(dir, 'after-delete-all.mp3')), false);
    // Again, as JSON: nothing left, recording stays off.
    assert.deepEqual(jsonLine(await ttma(['recording', '--delete-existing', '--json', ...flags])), {
      ok: true, recording: false, recordings_deleted: { deleted: 0, failed: 0, recording_now: 0 },
    });
    assert.deepEqual(jsonLine(await ttma(['recording', 'on', '--json', ...flags])), { ok: true, recording: true, stopped: 0 });
  });
});
