/**
 * The embedded store's journal (src/platform/store/StateJournal.ts) on a real
 * file: what is flushed is there after a reopen, in order; a write cut short
 * by a crash is dropped, a damaged line refuses the start, compaction keeps
 * every live entry, one directory has one process, and a failed write fails
 * every later flush closed (a child process whose file size limit is 8 KiB).
 * Then each embedded store, closed and reopened on the same directory, answers
 * as before: minute counters, live reservations, settlements, deployments,
 * call records, usage and install tokens.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { isTtmaError } from '../../src/errors.js';
import { MemoryDeploymentStore, type Deployment } from '../../src/platform/DeploymentRegistry.js';
import { MemoryInstallTokenStore } from '../../src/platform/installTokens/InstallTokenStore.js';
import { MemoryCallStore } from '../../src/platform/store/MemoryCallStore.js';
import { MemoryCapStore } from '../../src/platform/store/MemoryCapStore.js';
import { MemoryUsageStore } from '../../src/platform/store/MemoryUsageStore.js';
import { LOCK_FILE_NAME, STATE_FILE_NAME, StateJournal } from '../../src/platform/store/StateJournal.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ttma-state-'));
  dirs.push(dir);
  return dir;
}

/** Open, use, close; then open again on the same directory. */
async function reopen<T>(dir: string, use: (journal: StateJournal) => Promise<T>): Promise<T> {
  const journal = await StateJournal.open(dir);
  try {
    return await use(journal);
  } finally {
    await journal.close();
  }
}

describe('state journal', () => {
  it('replays sets and deletes in order, keeping a key set again in its first place', async () => {
    const dir = await freshDir();
    await reopen(dir, async (j) => {
      const t = j.table<{ n: number }>('t');
      t.set('a', { n: 1 }).set('b', { n: 2 }).set('c', { n: 3 });
      t.set('a', { n: 10 });
      t.delete('b');
      t.set('b', { n: 20 });
      await j.flush();
    });
    await reopen(dir, async (j) => {
      const t = j.table<{ n: number }>('t');
      assert.deepEqual([...t], [['a', { n: 10 }], ['c', { n: 3 }], ['b', { n: 20 }]]);
      assert.equal(j.table('other').size, 0);
    });
    const mode = (await stat(join(dir, STATE_FILE_NAME))).mode & 0o777;
    assert.equal(mode, 0o600, 'the state file is private');
  });

  it('remembers a value as it was set: a change in place is journaled only when set again', async () => {
    const dir = await freshDir();
    await reopen(dir, async (j) => {
      const t = j.table<{ n: number }>('t');
      const value = { n: 1 };
      t.set('k', value);
      value.n = 2;
      await j.flush();
    });
    await reopen(dir, async (j) => assert.deepEqual(j.table('t').get('k'), { n: 1 }));
  });

  it('every flush of a burst resolves once its change is on disk', async () => {
    const dir = await freshDir();
    await reopen(dir, async (j) => {
      const t = j.table<number>('t');
      const flushes: Promise<void>[] = [];
      for (let i = 0; i < 500; i++) {
        t.set(`k${i}`, i);
        flushes.push(j.flush());
      }
      await Promise.all(flushes);
      assert.equal(j.lines, 500);
      const text = await readFile(join(dir, STATE_FILE_NAME), 'utf8');
      assert.equal(text.split('\n').filter(Boolean).length, 500);
    });
  });

  it('drops a last line cut short by a crash, and appends after it cleanly', async () => {
    const dir = await freshDir();
    await reopen(dir, async (j) => {
      j.table<number>('t').set('kept', 1);
      await j.flush();
    });
    await appendFile(join(dir, STATE_FILE_NAME), '{"t":"t","k":"torn","v":');
    await reopen(dir, async (j) => {
      const t = j.table<number>('t');
      assert.deepEqual([...t.keys()], ['kept']);
      t.set('after', 2);
      await j.flush();
    });
    await reopen(dir, async (j) => assert.deepEqual([...j.table<number>('t')], [['kept', 1], ['after', 2]]));
  });

  it('refuses to start on a damaged line before the end (fail closed), and releases the directory', async () => {
    const dir = await freshDir();
    await writeFile(join(dir, STATE_FILE_NAME), '{"t":"t","k":"a","v":1}\nnot json\n{"t":"t","k":"b","v":2}\n');
    await assert.rejects(StateJournal.open(dir), (err: unknown) => isTtmaError(err, 'TTMA_ERR_CONFIG') && /line 2/.test((err as Error).message));
    await writeFile(join(dir, STATE_FILE_NAME), '{"t":"t","k":"a"}\n');
    await assert.rejects(StateJournal.open(dir), /line 1/);
    await writeFile(join(dir, STATE_FILE_NAME), '');
    await reopen(dir, async (j) => assert.equal(j.table('t').size, 0));
  });

  it('compacts a long journal to its live entries, keeping them and their order', async () => {
    const dir = await freshDir();
    await reopen(dir, async (j) => {
      const t = j.table<number>('t');
      for (let round = 0; round < 30; round++) {
        for (let i = 0; i < 500; i++) t.set(`k${i}`, round * 1000 + i);
        await j.flush();
      }
      // 15,000 lines written, 500 live: rewritten once past 10,000, then appended to.
      assert.ok(j.lines < 10_000, `lines after compaction: ${j.lines}`);
    });
    await reopen(dir, async (j) => {
      const t = j.table<number>('t');
      assert.equal(t.size, 500);
      assert.deepEqual([...t.keys()].slice(0, 3), ['k0', 'k1', 'k2']);
      assert.equal(t.get('k499'), 29_499);
    });
    const text = await readFile(join(dir, STATE_FILE_NAME), 'utf8');
    assert.ok(text.split('\n').length < 10_000);
  });

  it('keeps one process per directory: a live holder refuses, a dead one is taken over', async () => {
    const dir = await freshDir();
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      await writeFile(join(dir, LOCK_FILE_NAME), `${sleeper.pid}\n`);
      await assert.rejects(StateJournal.open(dir), (err: unknown) => isTtmaError(err, 'TTMA_ERR_CONFIG') && (err as Error).message.includes(`pid ${sleeper.pid}`));
    } finally {
      sleeper.kill('SIGKILL');
    }
    const exited = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    await writeFile(join(dir, LOCK_FILE_NAME), `${exited.stdout}\n`);
    const journal = await StateJournal.open(dir);
    assert.equal((await readFile(join(dir, LOCK_FILE_NAME), 'utf8')).trim(), String(process.pid));
    await journal.close();
    await assert.rejects(readFile(join(dir, LOCK_FILE_NAME)), /ENOENT/, 'the lock goes with the process');
  });

  it('a write that fails fails every later flush with TTMA_ERR_STORE_UNAVAILABLE, and the file keeps what was flushed', async () => {
    const dir = await freshDir();
    const journalModule = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/platform/store/StateJournal.js');
    // A child whose file size limit is 8 KiB (SIGXFSZ ignored, so the write fails with EFBIG instead).
    const child = `
      process.on('SIGXFSZ', () => {});
      const { StateJournal } = await import(${JSON.stringify(journalModule)});
      const j = await StateJournal.open(${JSON.stringify(dir)});
      const t = j.table('t');
      let flushed = 0, code = null;
      for (let i = 0; i < 1000 && code === null; i++) {
        t.set('k' + i, 'x'.repeat(200));
        try { await j.flush(); flushed = i + 1; } catch (err) { code = err.code; }
      }
      t.set('later', 1);
      const later = await j.flush().then(() => 'ok', (err) => err.code);
      process.stdout.write(JSON.stringify({ flushed, code, later }));
    `;
    const run = spawnSync('bash', ['-c', `ulimit -f 8 && exec "${process.execPath}" --input-type=module -e "$CHILD"`], { env: { ...process.env, CHILD: child }, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const outcome = JSON.parse(run.stdout) as { flushed: number; code: string; later: string };
    assert.equal(outcome.code, 'TTMA_ERR_STORE_UNAVAILABLE');
    assert.equal(outcome.later, 'TTMA_ERR_STORE_UNAVAILABLE', 'failed for good, not only once');
    assert.ok(outcome.flushed > 10 && outcome.flushed < 100, `flushed ${outcome.flushed} before the limit`);
    // What was acknowledged is there, nothing else (a part-written last line is dropped).
    await rm(join(dir, LOCK_FILE_NAME), { force: true });
    await reopen(dir, async (j) => {
      const t = j.table<string>('t');
      assert.ok(t.size >= outcome.flushed && t.size <= outcome.flushed + 1, `${t.size} entries for ${outcome.flushed} acknowledged`);
      assert.equal(t.has('later'), false);
    });
  });
});

describe('the embedded stores on a state directory, closed and reopened', () => {
  const JAN = { day: '2026-01-31', month: '2026-01' };

  it('minute counters, live reservations and settlements survive: a cap reached stays reached', async () => {
    const dir = await freshDir();
    await reopen(dir, async (j) => {
      const caps = new MemoryCapStore(j);
      assert.equal((await caps.reserve('dep', 'c1', 2, { day: 3, month: 10 }, JAN, { nextAtMs: 60_000 })).ok, true);
      assert.equal((await caps.reserve('dep', 'c2', 1, { day: 3, month: 10 }, JAN)).ok, true);
      assert.deepEqual(await caps.settle('dep', 'c2', 1, JAN), { first: true, billed: 1, reserved: 1 });
    });
    await reopen(dir, async (j) => {
      const caps = new MemoryCapStore(j);
      assert.deepEqual(await caps.usage('dep', JAN), { day: 3, month: 3 });
      const refused = await caps.reserve('dep', 'c3', 1, { day: 3, month: 10 }, JAN);
      assert.equal(!refused.ok && refused.reason, 'day');
      assert.deepEqual(await caps.live('dep'), ['c1']);
      assert.deepEqual(await caps.due('dep', 60_000), ['c1']);
      assert.deepEqual(await caps.settle('dep', 'c2', 1, JAN), { first: false, billed: 1, reserved: 1 }, 'settled once, across the restart');
      // The live call's top-up runs against the limits it was admitted with.
      const topUp = await caps.topUp('dep', 'c1', 60_000, 60_000, JAN);
      assert.equal(!topUp.ok && topUp.reason, 'day');
      // Still live until its hang-up is done, looked at again a unit on: a process killed while ending it leaves it for the next.
      assert.deepEqual(await caps.due('dep', 119_999), []);
    });
    await reopen(dir, async (j) => {
      const caps = new MemoryCapStore(j);
      assert.deepEqual(await caps.due('dep', 120_000), ['c1'], 'kept across a restart');
      // Hung up: released.
      await caps.release('dep', 'c1');
      assert.deepEqual(await caps.live('dep'), []);
    });
    await reopen(dir, async (j) => assert.deepEqual(await new MemoryCapStore(j).liveDeployments(), []));
  });

  it('a reservation granted is on disk when it is granted: a process killed right after loses none', async () => {
    const dir = await freshDir();
    const here = dirname(fileURLToPath(import.meta.url));
    const modules = ['StateJournal', 'MemoryCapStore'].map((name) => resolve(here, `../../src/platform/store/${name}.js`));
    // SIGKILL: no close, no flush at exit; only what each answer waited for.
    const child = `
      const { StateJournal } = await import(${JSON.stringify(modules[0])});
      const { MemoryCapStore } = await import(${JSON.stringify(modules[1])});
      const caps = new MemoryCapStore(await StateJournal.open(${JSON.stringify(dir)}));
      let granted = 0;
      for (let i = 0; i < 5; i++) if ((await caps.reserve('dep', 'c' + i, 1, { day: 100, month: 100 }, ${JSON.stringify(JAN)})).ok) granted++;
      process.stdout.write(String(granted), () => process.kill(process.pid, 'SIGKILL'));
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8' });
    assert.equal(run.signal, 'SIGKILL', run.stderr);
    assert.equal(run.stdout, '5');
    await reopen(dir, async (j) => assert.deepEqual(await new MemoryCapStore(j).usage('dep', JAN), { day: 5, month: 5 }));
  });

  it('after a failed write the platform reports itself degraded: /readyz 503 with the reason, new deployments refused', async () => {
    const dir = await freshDir();
    const here = dirname(fileURLToPath(import.meta.url));
    const modules = { journal: resolve(here, '../../src/platform/store/StateJournal.js'), server: resolve(here, '../../src/platform/PlatformServer.js'), log: resolve(here, '../../src/log.js') };
    const child = `
      process.on('SIGXFSZ', () => {});
      const { StateJournal } = await import(${JSON.stringify(modules.journal)});
      const { PlatformServer } = await import(${JSON.stringify(modules.server)});
      const { createLogger } = await import(${JSON.stringify(modules.log)});
      const journal = await StateJournal.open(${JSON.stringify(dir)});
      const platform = new PlatformServer({ providerBaseUrl: 'http://127.0.0.1:9', providerApiKey: 'k'.repeat(32), connectionId: 'c', webhookPublicKeyBase64: null, adminToken: null, logger: createLogger('t', 'silent'), stateJournal: journal });
      const { port } = await platform.start();
      const readyz = async () => { const r = await fetch('http://127.0.0.1:' + port + '/readyz'); return { status: r.status, body: await r.json() }; };
      const before = await readyz();
      let registered = 0, code = null, answered = null, detail = null;
      for (let i = 0; i < 200 && code === null; i++) {
        try { await platform.deployments.register({ id: 'dep-' + String(i).padStart(3, '0'), numbers: ['+1555123' + String(i).padStart(4, '0')], tunnelHost: 'd' + i + '.trycloudflare.com' }); registered++; }
        catch (err) { code = err.code; answered = err.publicMessage; detail = err.message; }
      }
      const after = await readyz();
      await platform.stop();
      process.stdout.write(JSON.stringify({ before, after, registered, code, answered, detail }));
    `;
    const run = spawnSync('bash', ['-c', `ulimit -f 8 && exec "${process.execPath}" --input-type=module -e "$CHILD"`], { env: { ...process.env, CHILD: child }, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const outcome = JSON.parse(run.stdout) as {
      before: { status: number }; after: { status: number; body: { reason: string; error: { code: string } } }; registered: number; code: string; answered: string; detail: string;
    };
    assert.equal(outcome.before.status, 200);
    assert.ok(outcome.registered > 5, `${outcome.registered} registered before the limit`);
    assert.equal(outcome.code, 'TTMA_ERR_STORE_UNAVAILABLE');
    assert.equal(outcome.after.status, 503);
    assert.equal(outcome.after.body.error.code, 'TTMA_ERR_STORE_UNAVAILABLE');
    assert.match(outcome.after.body.reason, /state file could not be written/);
    // A caller is answered in the platform's words: the file system's (a path, an errno) stay in the log.
    assert.match(outcome.detail, /state file could not be written/);
    assert.equal(outcome.answered, "the platform's store cannot answer right now: retry later");
  });

  it('deployments keep their secret digest, numbers and disabled flag', async () => {
    const dir = await freshDir();
    const digest = createHash('sha256').update(randomBytes(32)).digest();
    const deployment: Deployment = {
      id: 'dep-keep', numbers: ['+15551230001', '+15551230002'], tunnelHost: 'keep.trycloudflare.com', agentSecretSha256: digest,
      disabled: false, caps: { dayMinutes: 5, monthMinutes: 50 }, recording: false, dialPolicy: { allowPrefixes: ['+1555'] },
    };
    await reopen(dir, async (j) => {
      const store = new MemoryDeploymentStore(j);
      await store.insert(deployment);
      assert.equal(await store.setDisabled('dep-keep', true), true);
    });
    await reopen(dir, async (j) => {
      const store = new MemoryDeploymentStore(j);
      assert.deepEqual(await store.findByNumber('+15551230002'), { ...deployment, disabled: true });
      await assert.rejects(store.insert({ ...deployment, id: 'dep-other', numbers: ['+15551230001'] }), (err: unknown) => isTtmaError(err, 'TTMA_ERR_CONFLICT'));
    });
  });

  it('call records and the usage ledger keep every change', async () => {
    const dir = await freshDir();
    const facts = { direction: 'incoming' as const, from: '+15550000001', to: '+15551230001' };
    await reopen(dir, async (j) => {
      const calls = new MemoryCallStore({ journal: j });
      await calls.lock('v3:a', 'dep', facts, '2026-01-31T10:00:00.000Z');
      await calls.recordEvent('v3:a', facts, { event_type: 'call.answered', occurred_at: '2026-01-31T10:00:01.000Z' }, '2026-01-31T10:00:01.000Z');
      await calls.patch('v3:a', { billing: { source: 'cdr', durationMs: 61_000, billedMinutes: 2, costMicroUsd: 20_000 } });
      const usage = new MemoryUsageStore({ journal: j });
      await usage.apply('dep', 'v3:a', { kind: 'provider', durationMs: 61_000 }, 1_000);
      await usage.apply('dep', 'v3:a', { kind: 'gateway', durationMs: 1_000 }, 2_000);
      await usage.apply('dep', 'v3:ghost', { kind: 'unknown', durationMs: 1_000 }, 3_000);
    });
    await reopen(dir, async (j) => {
      const record = await new MemoryCallStore({ journal: j }).get('v3:a');
      assert.equal(record?.deploymentId, 'dep');
      assert.equal(record?.state, 'answered');
      assert.equal(record?.billing?.billedMinutes, 2);
      const usage = new MemoryUsageStore({ journal: j, maxUnknownPerDeployment: 1 });
      const entry = await usage.get('dep', 'v3:a');
      assert.deepEqual([entry?.providerMs, entry?.gatewayMs, entry?.flags], [61_000, 1_000, ['duration_mismatch']]);
      // Which entries came from unknown reports, and how many there were, are kept too.
      await usage.apply('dep', 'v3:ghost2', { kind: 'unknown', durationMs: 1_000 }, 4_000);
      assert.deepEqual((await usage.list()).map((e) => e.callControlId), ['v3:a', 'v3:ghost2']);
      assert.deepEqual(await usage.unknownReportCounts(), [{ deploymentId: 'dep', reports: 2 }]);
    });
  });

  it('install tokens: the audit outlives a restart, the sealed envelope never reaches the disk (FAQ-08)', async () => {
    const dir = await freshDir();
    const secretSha256 = createHash('sha256').update('secret').digest('hex');
    const sealed = randomBytes(48).toString('base64url');
    const envelope = { id: 'tok-1', expiresAt: Date.now() + 60_000, ciphertext: sealed } as never;
    await reopen(dir, async (j) => {
      const store = new MemoryInstallTokenStore(Date.now, j);
      await store.put({ envelope, secretSha256, createdAt: Date.now() }, 60_000);
      await store.appendAudit({ tokenId: 'tok-1', deploymentId: 'dep', outcome: 'minted', at: 1, mintedAt: 1, expiresAt: 2, address: null });
      assert.equal((await store.take('tok-1', secretSha256, Date.now())).kind, 'taken');
      await store.appendAudit({ tokenId: 'tok-1', deploymentId: 'dep', outcome: 'redeemed', at: 2, mintedAt: 1, expiresAt: 2, address: '127.0.0.1' });
      await store.put({ envelope: { id: 'tok-2', expiresAt: Date.now() + 60_000, ciphertext: sealed } as never, secretSha256, createdAt: Date.now() }, 60_000);
    });
    const text = await readFile(join(dir, STATE_FILE_NAME), 'utf8');
    assert.ok(!text.includes(sealed) && !text.includes(secretSha256), 'no envelope and no secret digest in the journal');
    await reopen(dir, async (j) => {
      const store = new MemoryInstallTokenStore(Date.now, j);
      assert.deepEqual((await store.audit()).map((e) => e.outcome), ['redeemed', 'minted']);
      assert.equal((await store.take('tok-1', secretSha256, Date.now())).kind, 'absent', 'single use across a restart');
      assert.equal(await store.has('tok-2'), false, 'an unredeemed token is forgotten by a restart: mint a new one');
    });
  });
});
