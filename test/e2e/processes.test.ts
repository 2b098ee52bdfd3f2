/**
 * The real commands as separate processes: `ttma demo --json` end to end; a
 * gateway stopped with SIGTERM mid-call hangs its live calls up through the
 * platform and exits 0; a gateway killed mid-call (or stopped with
 * `--on-stop handover`) leaves its calls to the next gateway process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import nacl from 'tweetnacl';
import { freePorts, startTtma, stopChild, type Child } from '../../src/cli/processes.js';
import { simProcessArgs } from '../helpers/simProcess.js';

const TTMA = fileURLToPath(new URL('../../src/cli/ttma.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ttma-e2e-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A demo whose calls are broken halfway talks until they are mended: slower on a loaded box. */
const BROKEN_DEMO_TIMEOUT_MS = 180_000;

function run(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TTMA, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('ttma demo --json: every call completes with its audio echoed back', async () => {
  const { code, stdout, stderr } = await run(['demo', '--calls', '4', '--seconds', '2', '--json']);
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout.trim()) as {
    calls: { requested: number; completed: number; failed: number };
    frames: { sent: number; returned: number; lost: number };
    echo: { minCorrelation: number };
    roundTripMs: { p50: number; p99: number; max: number };
    workers: number;
  };
  assert.deepEqual(summary.calls, { requested: 4, completed: 4, failed: 0 });
  assert.ok(summary.frames.sent >= 4 * 95, `sent ${summary.frames.sent}`);
  assert.equal(summary.frames.lost, 0);
  // More can come back than went: the simulated caller stops sending 200 ms before it hangs up, and the
  // gateway's jitter buffer conceals that silence toward the (echo) agent, as it would a loss.
  assert.ok(summary.frames.returned >= summary.frames.sent, `returned ${summary.frames.returned}, sent ${summary.frames.sent}`);
  assert.ok(summary.echo.minCorrelation >= 0.9, `minCorrelation ${summary.echo.minCorrelation}`);
  assert.ok(summary.roundTripMs.p50 > 0 && summary.roundTripMs.p99 >= summary.roundTripMs.p50 && summary.roundTripMs.max >= summary.roundTripMs.p99);
  assert.ok(summary.workers >= 1);
  assert.match(stderr, /demo: .*ended 4\/4/, 'progress is shown while it runs');
  // The logs directory it names is removed after a clean run, and the line says so (a user went looking for it).
  const logs = /logs in (\S+) \(kept if the demo fails, or with --keep-logs\)/.exec(stderr);
  assert.ok(logs, stderr);
  assert.equal(existsSync(logs[1]!), false, `${logs[1]} removed`);
});

// Each phone codec end to end through real processes. Opus's echo correlates less: it is coded
// twice by a perceptual codec (caller -> gateway -> caller), which keeps the speech, not the waveform.
for (const [codec, minCorrelation] of [['pcma', 0.9], ['l16', 0.9], ['g722', 0.9], ['opus', 0.6]] as const) {
  test(`ttma demo --codec ${codec}: the ${codec.toUpperCase()} phone leg end to end`, async () => {
    const { code, stdout, stderr } = await run(['demo', '--calls', '2', '--seconds', '1', '--codec', codec, '--json']);
    assert.equal(code, 0, stderr);
    const summary = JSON.parse(stdout.trim()) as { calls: { completed: number }; frames: { lost: number; sent: number }; echo: { minCorrelation: number } };
    assert.equal(summary.calls.completed, 2);
    assert.equal(summary.frames.lost, 0);
    assert.ok(summary.frames.sent >= 2 * 45);
    assert.ok(summary.echo.minCorrelation >= minCorrelation, `minCorrelation ${summary.echo.minCorrelation}`);
    assert.match(stderr, new RegExp(`inbound ${codec.toUpperCase()} calls`));
  });
}

test('ttma demo exits 1 when its calls fail, and keeps its logs', async () => {
  // An agent nobody listens on: every call ends without an echo.
  const { code, stdout, stderr } = await run(['demo', '--calls', '2', '--seconds', '2', '--agent', 'ws', '--agent-url', 'ws://127.0.0.1:9/agent', '--json']);
  assert.equal(code, 1, stderr);
  const summary = JSON.parse(stdout.trim()) as { calls: { requested: number; completed: number; failed: number } };
  assert.deepEqual(summary.calls, { requested: 2, completed: 0, failed: 2 });
  // Exit 1 says why on stderr, not only in the JSON on stdout.
  assert.match(stderr, /demo: FAILED: 2 of 2 calls did not complete/);
  const kept = /logs kept in (\S+)/.exec(stderr)?.[1];
  assert.ok(kept, stderr);
  assert.ok(readFileSync(join(kept, 'gateway.log'), 'utf8').length > 0);
  rmSync(kept, { recursive: true, force: true });
});

test('ttma demo: a gateway that cannot start says why, not only its exit code', async () => {
  const { code, stderr } = await run(['demo', '--calls', '1', '--seconds', '1', '--agent', 'ws']);
  assert.equal(code, 1, stderr);
  assert.match(stderr, /gateway exited \(2\) before it was ready: agent\.url: is required for agent\.kind "ws"/);
  const kept = /logs kept in (\S+)/.exec(stderr)?.[1];
  if (kept) rmSync(kept, { recursive: true, force: true });
});

test('ttma demo --codec: an unknown codec is a usage error', async () => {
  const refused = await run(['demo', '--codec', 'g729']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--codec must be one of pcmu, pcma, l16, g722, opus/);
});

test('ttma demo --media-sockets worker: real processes, each media worker owning its calls\' sockets', async () => {
  const { code, stdout, stderr } = await run(['demo', '--calls', '4', '--seconds', '2', '--workers', '2', '--media-sockets', 'worker', '--json']);
  // Exit 0 includes every process exiting cleanly: a worker thread that exits with a uWS socket open would abort the gateway.
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout.trim()) as { calls: { completed: number }; frames: { lost: number; sent: number }; echo: { minCorrelation: number } };
  assert.equal(summary.calls.completed, 4);
  assert.equal(summary.frames.lost, 0);
  assert.ok(summary.echo.minCorrelation >= 0.9, `minCorrelation ${summary.echo.minCorrelation}`);
  const refused = await run(['demo', '--media-sockets', 'both']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--media-sockets must be front or worker/);
});

test('ttma demo --drop-streams: each call\'s socket is broken halfway, the gateway restarts every stream, and the calls complete', async () => {
  const { code, stdout, stderr } = await run(['demo', '--calls', '4', '--seconds', '3', '--drop-streams', '--json'], BROKEN_DEMO_TIMEOUT_MS);
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout.trim()) as { calls: { completed: number }; echo: { minCorrelation: number }; streams: { dropped: number; restarted: number } };
  assert.equal(summary.calls.completed, 4);
  assert.deepEqual(summary.streams, { dropped: 4, restarted: 4 });
  assert.ok(summary.echo.minCorrelation >= 0.9, `minCorrelation ${summary.echo.minCorrelation} (each stream analysed on its own)`);
  assert.match(stderr, /dropped 4 of 4 media streams halfway/);
});

test('ttma demo --tunnel-outage: the tunnel is also down from the drop (a cloudflared restart), past the calls\' length; the calls talk until every stream is back', async () => {
  // Dropped at 2 s, the tunnel back at 5 s, asked again at 2.5, 3.5 and 5.5 s: the last lands after a
  // 4 s call would have ended, as a slow ask did on a loaded box. The calls talk until it has landed.
  const { code, stdout, stderr } = await run(['demo', '--calls', '4', '--seconds', '4', '--drop-streams', '--tunnel-outage', '3000', '--json'], BROKEN_DEMO_TIMEOUT_MS);
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout.trim()) as { calls: { completed: number }; echo: { minCorrelation: number }; streams: Record<string, number> };
  assert.equal(summary.calls.completed, 4);
  assert.deepEqual(summary.streams, { dropped: 4, restarted: 4, outageMs: 3000 });
  assert.ok(summary.echo.minCorrelation >= 0.9, `minCorrelation ${summary.echo.minCorrelation}`);
  assert.match(stderr, /the tunnel is down for 3000 ms/);
  assert.match(stderr, /every stream is back; they talk 2 s more/);
  const usage = await run(['demo', '--tunnel-outage', '2000']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--tunnel-outage needs --drop-streams/);
});

test('ttma demo --kill-gateway: the gateway process is killed halfway, a new one takes every call over, the calls complete', async () => {
  const { code, stdout, stderr } = await run(['demo', '--calls', '4', '--seconds', '6', '--kill-gateway', '--json'], BROKEN_DEMO_TIMEOUT_MS);
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout.trim()) as {
    calls: { completed: number };
    echo: { minCorrelation: number };
    gatewayKilled: { liveCalls: number; takenOver: number; restartMs: number; streamGapMsPerCall: number; rangWhileDown: { completed: boolean; echoCorrelation: number } };
  };
  assert.equal(summary.calls.completed, 4);
  // The call placed while no gateway was up rang until the new process answered it.
  assert.equal(summary.gatewayKilled.rangWhileDown.completed, true);
  assert.ok(summary.gatewayKilled.rangWhileDown.echoCorrelation >= 0.9, `echo ${summary.gatewayKilled.rangWhileDown.echoCorrelation}`);
  assert.equal(summary.gatewayKilled.liveCalls, 4);
  assert.equal(summary.gatewayKilled.takenOver, 4);
  assert.ok(summary.gatewayKilled.restartMs > 0);
  // The caller's stream is gone from the kill until the new process's stream lands: more than nothing, and
  // back within 5 s of the new process being up (its start took 5 to 10 s on a loaded box: not the takeover's).
  const { streamGapMsPerCall: gap, restartMs } = summary.gatewayKilled;
  assert.ok(gap > 100 && gap < restartMs + 5_000, `gap ${gap} ms, the new process started in ${restartMs} ms`);
  assert.ok(summary.echo.minCorrelation >= 0.9, `minCorrelation ${summary.echo.minCorrelation}`);
  assert.match(stderr, /killed the gateway process \(SIGKILL\) with 4 calls live/);
  const usage = await run(['demo', '--kill-gateway', '--drop-streams']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /choose one/);
});

test('unknown and planned subcommands are refused with exit 2', async () => {
  const unknown = await run(['rm', '-rf', '/']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "rm"/);
  const planned = await run(['call']);
  assert.equal(planned.code, 2);
  const badFlag = await run(['gateway', '--bind', '0.0.0.0']);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /TTMA_ERR_CLI_USAGE/);
});

test('a non-loopback bind address stops the gateway at start with a clear error', async () => {
  const secret = join(dir, 'secret');
  writeFileSync(secret, 'x'.repeat(32), { mode: 0o600 });
  const { code, stderr } = await run([
    'gateway', '--host', '0.0.0.0', '--public-host', 'gw.trycloudflare.com', '--platform-url', 'http://127.0.0.1:2',
    '--deployment-id', 'demo', '--agent-secret-file', secret, '--number', '+15550100000',
  ]);
  assert.equal(code, 1);
  assert.match(stderr, /TTMA_ERR_CONFIG: config host: "0.0.0.0" is not a loopback address/);
});

/** Simulator, platform and one gateway as separate processes, three inbound calls streaming through them. */
async function threeStreamingCalls(name: string, seconds: number, gatewayFlags: string[] = []) {
  const keys = nacl.sign.keyPair();
  const file = (base: string, value: string) => {
    const path = join(dir, `${name}-${base}`);
    writeFileSync(path, value, { mode: 0o600 });
    return path;
  };
  const apiKey = randomBytes(16).toString('hex');
  const agentSecret = randomBytes(32).toString('base64url');
  const host = `${name}-test.trycloudflare.com`;
  const number = '+15550100000';
  const [simPort, platformPort, tunnelPort, localPort] = (await freePorts(4)) as [number, number, number, number];
  const children: Child[] = [];
  const logs = { sim: join(dir, `${name}-sim.log`), platform: join(dir, `${name}-platform.log`), gateway: join(dir, `${name}-gateway.log`) };
  const simFiles = { apiKey: file('api', apiKey), signingKey: file('signing', Buffer.from(keys.secretKey).toString('base64')) };
  children.push(await startTtma('sim', simProcessArgs({ sim: simPort, platform: platformPort, tunnel: tunnelPort }, simFiles, host), logs.sim));
  const publicKey = file('public', Buffer.from(keys.publicKey).toString('base64'));
  children.push(await startTtma('platform', [
    'platform', '--port', String(platformPort), '--provider-url', `http://127.0.0.1:${simPort}`,
    '--provider-api-key-file', join(dir, `${name}-api`), '--webhook-public-key-file', publicKey,
    '--deployment-file', file('deployment.json', JSON.stringify({ id: name, numbers: [number], tunnelHost: host, agentSecret })),
  ], logs.platform));
  const gatewayArgs = [
    'gateway', '--tunnel-port', String(tunnelPort), '--local-port', String(localPort), '--workers', '2',
    '--public-host', host, '--webhook-public-key-file', publicKey, '--platform-url', `http://127.0.0.1:${platformPort}`,
    '--deployment-id', name, '--agent-secret-file', file('agent', agentSecret), '--number', number, ...gatewayFlags,
  ];
  const startGateway = () => startTtma('gateway', gatewayArgs, logs.gateway);
  const gateway = await startGateway();
  const sim = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${simPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await response.json()) as Record<string, unknown>;
  };
  const placed = await Promise.all([1, 2, 3].map((i) => sim('POST', '/sim/calls/inbound', { from: `+1555020000${i}`, to: number, seconds })));
  const ids = placed.map((p) => p.call_control_id as string);
  const streaming = async () => {
    const status = (await (await fetch(`http://127.0.0.1:${localPort}/debug/status`)).json()) as { calls: Array<{ state: string }> };
    return status.calls.filter((c) => c.state === 'streaming').length;
  };
  const untilStreaming = async (what: string) => {
    const deadline = Date.now() + 10_000;
    while ((await streaming()) < 3) {
      assert.ok(Date.now() < deadline, what);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  await untilStreaming('calls did not start streaming');
  /** The simulator's reports once every call ended (fails after `ms`). */
  const reportsWhenEnded = async (ms: number, what: string) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const reports = await Promise.all(ids.map((id) => sim('GET', `/sim/calls/${id}`)));
      if (reports.every((r) => r.endedBy)) return reports;
      assert.ok(Date.now() < deadline, what);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const secrets = { apiKey, agentSecret, signingKey: Buffer.from(keys.secretKey).toString('base64') };
  return { children, gateway, startGateway, untilStreaming, reportsWhenEnded, logs, secrets };
}

test('SIGTERM mid-call: the gateway hangs its live calls up through the platform and exits 0', async () => {
  const set = await threeStreamingCalls('sigterm', 30);
  try {
    const code = await stopChild(set.gateway, 10_000);
    assert.equal(code, 0, 'the gateway exits 0 on SIGTERM');
    const reports = await set.reportsWhenEnded(5_000, 'calls were left hanging after the gateway stopped');
    for (const report of reports) {
      assert.equal(report.endedBy, 'gateway', `${String(report.callId)}: ${String(report.endReason)}`);
      assert.ok((report.framesSent as number) < 30 * 50, 'the call ended long before its 30 s');
    }
    // No secret reaches any process's log: the provider key, the agent secret, the signing key.
    for (const log of Object.values(set.logs)) {
      const text = readFileSync(log, 'utf8');
      assert.ok(text.length > 0, `${log} has lines`);
      for (const [what, value] of Object.entries(set.secrets)) assert.ok(!text.includes(value), `${what} leaked into ${log}`);
    }
  } finally {
    for (const child of set.children.reverse()) await stopChild(child);
  }
});

// A gateway that crashes (SIGKILL: no hang-up, no goodbye) or stops with --on-stop handover leaves its
// calls up at the provider; the next gateway process takes them over and each call goes on to its end.
for (const [how, flags] of [['SIGKILL', []], ['SIGTERM with --on-stop handover', ['--on-stop', 'handover']]] as const) {
  test(`${how} mid-call, then a new gateway process: every call carries on to its caller's hang-up`, async () => {
    const set = await threeStreamingCalls(how.startsWith('SIGKILL') ? 'crash' : 'handover', 8, [...flags]);
    let next: Child | null = null;
    try {
      if (how === 'SIGKILL') {
        set.gateway.process.kill('SIGKILL');
        assert.equal(await set.gateway.exited, 'SIGKILL');
      } else {
        assert.equal(await stopChild(set.gateway, 10_000), 0, 'the gateway exits 0 on SIGTERM');
      }
      next = await set.startGateway();
      await set.untilStreaming('the new gateway process did not take the calls over');
      const reports = await set.reportsWhenEnded(15_000, 'calls did not end');
      for (const report of reports) {
        assert.equal(report.endedBy, 'caller', `${String(report.callId)}: ${String(report.endReason)}`);
        assert.equal(report.streamsOpened, 2, 'one stream to each gateway process');
      }
    } finally {
      if (next) await stopChild(next);
      for (const child of set.children.reverse()) await stopChild(child);
    }
  });
}
