/**
 * `ttma call`, `calls`, `dashboard` and `recording` read the deployment's agent secret from
 * --agent-secret-file, $TTMA_AGENT_SECRET_FILE or <install dir>/credentials/agent-secret. When
 * none is there, the refusal says where it looked and which flag points at the install (the real
 * CLI as a child process, as a new operator runs it).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runTtma } from '../helpers/runTtma.js';

let home: string;
before(async () => {
  home = await mkdtemp(join(tmpdir(), 'ttma-secret-source-'));
});
after(async () => {
  await rm(home, { recursive: true, force: true });
});

test('no flag, no install in the default place: the message names the default install dir and says to pass --install-dir or --agent-secret-file', async () => {
  for (const args of [['call', '+15550100000'], ['calls'], ['dashboard'], ['recording']]) {
    const run = await runTtma([...args, '--local-port', '1'], { env: { HOME: home } });
    assert.equal(run.code, 2, `${args[0]}: ${run.stderr}`);
    const defaultDir = join(home, '.local', 'share', 'ttma');
    assert.ok(run.stderr.includes(`no agent secret at ${defaultDir}/credentials/agent-secret (the installer's default install dir ${defaultDir})`), run.stderr);
    assert.match(run.stderr, /pass --install-dir D, the --dir that ttma install used, or --agent-secret-file F/);
    // Before, it named a flag the user had not given: "--agent-secret-file <default path>: cannot read secret: ENOENT".
    assert.ok(!run.stderr.includes('--agent-secret-file /'), run.stderr);
  }
});

test('an --install-dir without credentials is named as given; an --agent-secret-file that cannot be read is named by its flag', async () => {
  const dir = join(home, 'not-an-install');
  const viaDir = await runTtma(['calls', '--install-dir', dir], { env: { HOME: home } });
  assert.equal(viaDir.code, 2);
  assert.ok(viaDir.stderr.includes(`no agent secret at ${dir}/credentials/agent-secret (--install-dir ${dir})`), viaDir.stderr);
  const viaFlag = await runTtma(['calls', '--agent-secret-file', join(home, 'missing')], { env: { HOME: home } });
  assert.equal(viaFlag.code, 2);
  assert.ok(viaFlag.stderr.includes(`--agent-secret-file ${join(home, 'missing')}: cannot read secret`), viaFlag.stderr);
});
