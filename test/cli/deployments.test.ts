/**
 * `ttma deployments export|import` as an operator runs it: the real CLI as a child process
 * against real platforms on loopback (the embedded store), the admin token read from a file.
 * The export is a new 0600 file written whole, never over an existing one without --force; the
 * import says of each record imported, skipped (never overwritten) or refused, and every bad
 * input is a typed error with its exit code.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runTtma } from '../helpers/runTtma.js';
import { ADMIN_TOKEN, startHarness, type Harness } from '../platform/helpers.js';

const SECRET = 'cli-export-secret-0123456789abcdefghijklmnopqrstuv';
const A = { id: 'cli-a', numbers: ['+15551750001'], tunnelHost: 'cli-a.trycloudflare.com', agentSecret: SECRET, caps: { dayMinutes: 7, monthMinutes: 70 } };
const B = { id: 'cli-b', numbers: ['+15551750002'], tunnelHost: 'cli-b.trycloudflare.com' };

describe('ttma deployments export and import', () => {
  let dir = '';
  let tokenFile = '';
  let source: Harness;
  let target: Harness;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ttma-deployments-'));
    tokenFile = join(dir, 'admin-token');
    await writeFile(tokenFile, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
    source = await startHarness();
    target = await startHarness();
    await source.platform.deployments.register(A);
    await source.platform.deployments.register(B);
    await source.platform.deployments.setDisabled(B.id, true);
  });
  after(async () => {
    await source?.close();
    await target?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const ttma = (args: string[], platform: Harness = source) => runTtma(['deployments', ...args, '--platform-url', platform.base, '--admin-token-file', tokenFile]);
  const refusal = (stderr: string) => /^ttma: (TTMA_ERR_[A-Z_]+): (.*)$/m.exec(stderr)?.slice(1) ?? [];

  it('export: a new 0600 file with digests only; an existing file kept unless --force', async () => {
    const file = join(dir, 'export.json');
    const run = await ttma(['export', '--out', file]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^exported 2 deployment\(s\) to .*export\.json/);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const text = await readFile(file, 'utf8');
    const body = JSON.parse(text) as { version: number; deployments: Array<Record<string, unknown>> };
    assert.equal(body.version, 1);
    assert.deepEqual(body.deployments.map((d) => d['id']).sort(), [A.id, B.id]);
    assert.ok(!text.includes(SECRET), 'no secret in the file');

    await source.platform.deployments.register({ id: 'cli-c', numbers: ['+15551750003'], tunnelHost: 'cli-c.trycloudflare.com' });
    const again = await ttma(['export', '--out', file]);
    assert.equal(again.code, 2);
    const [code, message] = refusal(again.stderr);
    assert.equal(code, 'TTMA_ERR_EXPORT_FILE');
    assert.match(message!, /already exists: not overwritten \(--force replaces it\)/);
    assert.equal(await readFile(file, 'utf8'), text, 'the earlier export untouched');
    const forced = await ttma(['export', '--out', file, '--force', '--json']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(JSON.parse(forced.stdout).deployments, 3);
    assert.equal((JSON.parse(await readFile(file, 'utf8')) as { deployments: unknown[] }).deployments.length, 3);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual((await readdir(dir)).sort(), ['admin-token', 'export.json'], 'no temporary file left');
  });

  it('import: each record imported, then skipped (never overwritten); a record the platform refuses is named and exits 1', async () => {
    const file = join(dir, 'export.json');
    const first = await ttma(['import', file], target);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^imported cli-a$/m);
    assert.match(first.stdout, /3 imported, 0 skipped, 0 refused, of 3 in the file/);
    const restored = await target.platform.deployments.authenticate(A.id, SECRET);
    assert.deepEqual(restored.numbers, A.numbers, 'the secret the gateway holds authenticates');
    assert.equal((await target.platform.deployments.get(B.id))?.disabled, true, 'still disabled');

    const second = await ttma(['import', file], target);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^skipped {2}cli-a: already registered, not overwritten/m);
    assert.match(second.stdout, /0 imported, 3 skipped, 0 refused/);

    const exported = JSON.parse(await readFile(file, 'utf8')) as { deployments: Array<Record<string, unknown>> };
    const broken = join(dir, 'broken.json');
    await writeFile(broken, JSON.stringify({ ...exported, deployments: [{ ...exported.deployments[0], id: 'cli-d', numbers: ['+15551750004'], agentSecretSha256: 'nothex' }, exported.deployments[1]] }));
    const mixed = await ttma(['import', broken, '--json'], target);
    assert.equal(mixed.code, 1, mixed.stderr);
    const summary = JSON.parse(mixed.stdout) as { imported: number; skipped: number; refused: number; deployments: Array<{ id: string; result: string; code?: string }> };
    assert.deepEqual([summary.imported, summary.skipped, summary.refused], [0, 1, 1]);
    assert.deepEqual(summary.deployments[0], { ...summary.deployments[0], id: 'cli-d', result: 'refused', code: 'TTMA_ERR_BAD_REQUEST' });
    assert.equal(await target.platform.deployments.get('cli-d'), undefined);

    // A record whose tunnel host another deployment holds is refused with the platform's reason; the next still imports.
    const clash = join(dir, 'clash.json');
    const [first0] = exported.deployments;
    await writeFile(clash, JSON.stringify({ ...exported, deployments: [{ ...first0, id: 'cli-e', numbers: ['+15551750005'] }, { ...first0, id: 'cli-f', numbers: ['+15551750006'], tunnelHost: 'cli-f.trycloudflare.com' }] }));
    const hosts = await ttma(['import', clash], target);
    assert.equal(hosts.code, 1, hosts.stderr);
    assert.match(hosts.stdout, new RegExp(`^refused {2}cli-e: TTMA_ERR_TUNNEL_HOST_TAKEN: tunnel host ${String(first0!['tunnelHost']).replace(/\./g, '\\.')} is already registered to deployment ${String(first0!['id'])}`, 'm'));
    assert.match(hosts.stdout, /^imported cli-f$/m);
    assert.match(hosts.stdout, /1 imported, 0 skipped, 1 refused, of 2 in the file/);
    assert.equal(await target.platform.deployments.get('cli-e'), undefined);
  });

  it('every bad input is a typed error: the file, the platform, the credential, the flags', async () => {
    const file = (name: string, text: string) => writeFile(join(dir, name), text).then(() => join(dir, name));
    const cases: Array<[string[], number, string, RegExp]> = [
      [['import', join(dir, 'missing.json')], 2, 'TTMA_ERR_EXPORT_FILE', /cannot be read \(ENOENT\)/],
      [['import', await file('bad.json', '{"version":1,')], 2, 'TTMA_ERR_EXPORT_FILE', /not JSON/],
      [['import', await file('other.json', '{"items":[]}')], 2, 'TTMA_ERR_EXPORT_FILE', /not a deployments export/],
      [['import', await file('v2.json', '{"version":2,"deployments":[]}')], 2, 'TTMA_ERR_EXPORT_FILE', /export format version 2: this ttma reads version 1 only/],
      [['export'], 2, 'TTMA_ERR_CLI_USAGE', /export needs --out FILE/],
      [['import'], 2, 'TTMA_ERR_CLI_USAGE', /import takes one FILE/],
      [['import', 'a.json', '--force'], 2, 'TTMA_ERR_CLI_USAGE', /--out and --force are export's/],
      [['list'], 2, 'TTMA_ERR_CLI_USAGE', /expected export or import, got "list"/],
    ];
    for (const [args, exit, code, message] of cases) {
      const run = await ttma(args);
      assert.equal(run.code, exit, `${args.join(' ')}: ${run.stderr}`);
      const [got, text] = refusal(run.stderr);
      assert.equal(got, code, `${args.join(' ')}: ${run.stderr}`);
      assert.match(text!, message, args.join(' '));
    }

    // A port nothing listens on.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await runTtma(['deployments', 'export', '--out', join(dir, 'x.json'), '--platform-url', `http://127.0.0.1:${port}`, '--admin-token-file', tokenFile]);
    assert.equal(unreachable.code, 1);
    assert.deepEqual(refusal(unreachable.stderr)[0], 'TTMA_ERR_PLATFORM');
    assert.match(unreachable.stderr, /cannot reach the platform at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);

    const wrongToken = join(dir, 'wrong-token');
    await writeFile(wrongToken, 'not-the-admin-token-0123456789', { mode: 0o600 });
    for (const args of [['export', '--out', join(dir, 'y.json')], ['import', join(dir, 'export.json')]]) {
      const run = await runTtma(['deployments', ...args, '--platform-url', source.base, '--admin-token-file', wrongToken]);
      assert.equal(run.code, 1, run.stderr);
      assert.equal(refusal(run.stderr)[0], 'TTMA_ERR_AUTH');
      assert.match(run.stderr, /the platform refused the admin token in .*wrong-token/);
    }
    const noToken = await runTtma(['deployments', 'export', '--out', join(dir, 'z.json'), '--platform-url', source.base, '--admin-token-file', join(dir, 'absent')]);
    assert.equal(noToken.code, 2);
    assert.equal(refusal(noToken.stderr)[0], 'TTMA_ERR_CONFIG');
    const leftovers = (await readdir(dir)).filter((n) => /^[xyz]\.json$|\.tmp$/.test(n));
    assert.deepEqual(leftovers, [], 'nothing written by a failed export');
  });
});
