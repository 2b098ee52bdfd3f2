/**
 * A call the platform hung up at a minute cap, its call.hangup webhook lost for good, on the
 * embedded store journaled to a state directory (one process, no Redis). The process stops
 * before its in-process check: the call's reservation is released and its record never ended,
 * so only the hung-up mark on the unsettled index (CallStore.markHungUp) says it awaits
 * settlement. The next start on the same directory must find it and settle it once, at the
 * provider's figure. Real provider simulator, a lossy relay refusing every call.hangup.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { MemoryCallStore } from '../../src/platform/store/MemoryCallStore.js';
import { StateJournal } from '../../src/platform/store/StateJournal.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, agentHeaders, call, capturingLogger, until } from './helpers.js';
import { simBehindLossyRelay } from './lossyRelay.js';

const API_KEY = 'sim-provider-key-for-hung-up-restart';
const DEP = { id: 'hung-up-restart', numbers: ['+15552220203'], tunnelHost: 'hung-up-restart.trycloudflare.com' };
const SETTLED = 'call settled from the provider figure';

it('embedded store: a call hung up at a cap, its hang-up lost, is settled once by the next start on the same state directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ttma-hungup-restart-'));
  const { sim, simPort, relay, platformPort: forwardTo, stop: stopSim } = await simBehindLossyRelay(API_KEY, [DEP.tunnelHost]);
  let platformPort = 0;
  const start = async (journal: StateJournal): Promise<{ platform: PlatformServer; lines: string[] }> => {
    const { logger, lines } = capturingLogger();
    const platform = new PlatformServer({
      providerBaseUrl: `http://127.0.0.1:${simPort}`,
      providerApiKey: API_KEY,
      connectionId: 'sim-connection',
      webhookPublicKeyBase64: sim.publicKeyBase64,
      adminToken: null,
      stateJournal: journal,
      capUnitMs: 400,
      capGoodbyeMs: 0,
      cdr: { attempts: 3, backoffMs: 20 },
      // Far beyond the test: the first process stops before its own check, so only the mark can find the call.
      hungUpCheck: { afterMs: 600_000 },
      logger,
    });
    platformPort = (await platform.start()).port;
    forwardTo(platformPort);
    return { platform, lines };
  };

  let journal = await StateJournal.open(dir);
  try {
    const first = await start(journal);
    let id = '';
    try {
      const secret = (await first.platform.deployments.register({ ...DEP, caps: { dayMinutes: 2, monthMinutes: 1_000 } })).agentSecret;
      const res = await call(`http://127.0.0.1:${platformPort}`, 'POST', PLATFORM_PATHS.dial, {
        headers: agentHeaders(DEP.id, secret),
        body: { to: '+15553334444', stream_url: `wss://${DEP.tunnelHost}/v1/media/hung-up-restart`, stream_auth_token: STREAM_TOKEN },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      id = res.body.call_control_id as string;
      // 2 units of 400 ms: the second top-up is refused, the platform hangs the call up and releases its reservation.
      await until('the platform ended the call at the cap', () => first.lines.some((l) => l.includes('call ended by the platform: minute cap reached') && l.includes(id)));
      await until('the simulator sent its hang-up and the relay refused it', () => relay.droppedWebhooks.some((w) => w.callControlId === id));
      await until('the reservation released', async () => (await first.platform.caps.liveOf(DEP.id)).length === 0);
      // The record the next start looks for (the sweep's periodic pass would look again, a minute later).
      await until('the simulator filed the call\'s record', () => sim.filedCallRecords().some((r) => r.call_control_id === id));
      const before = await first.platform.calls.get(id);
      assert.notEqual(before?.state, 'ended', 'no hang-up on the record');
      assert.equal(before?.billing, null, 'not settled before the stop');
    } finally {
      await first.platform.stop();
      await journal.close();
    }

    journal = await StateJournal.open(dir);
    const second = await start(journal);
    try {
      const record = await until('settled by the next start', async () => {
        const found = await second.platform.calls.get(id);
        return found?.billing ? found : undefined;
      }, 8_000);
      assert.equal(record.state, 'ended');
      assert.equal(record.billing?.source, 'cdr');
      const cdr = sim.filedCallRecords().find((r) => r.call_control_id === id);
      assert.ok(cdr?.duration_ms !== null && cdr?.duration_ms !== undefined, 'the simulator filed the call\'s record');
      // Telnyx's record gives call_sec in whole seconds (src/sim/detailRecords.ts).
      assert.equal(record.billing?.durationMs, Math.round(cdr.duration_ms / 1000) * 1000);
      assert.equal((await second.platform.caps.usage(DEP.id)).day, record.billing?.billedMinutes, 'the reservation settled at the billed units');
      // The ledger is written just after the record's billing (Settlement): waited for, not raced.
      await until('the ledger has the provider\'s figure', async () => (await second.platform.ledger.get(DEP.id, id))?.providerMs === record.billing?.durationMs);
      assert.deepEqual(await second.platform.calls.store.unsettled(10), []);
      await until('the settlement logged', () => second.lines.some((l) => l.includes(SETTLED) && l.includes(id)));
      assert.equal(second.lines.filter((l) => l.includes(SETTLED) && l.includes(id)).length, 1);
    } finally {
      await second.platform.stop();
      await journal.close();
    }

    // The mark left the journal with the settlement: a third start has nothing to resume.
    journal = await StateJournal.open(dir);
    assert.deepEqual(await new MemoryCallStore({ journal }).unsettled(10), []);
  } finally {
    await journal.close();
    await stopSim();
    await rm(dir, { recursive: true, force: true });
  }
});
