/** The CLI's help and its number flags, as a user types them (the real `ttma` as a child process). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { intFlag } from '../../src/cli/args.js';
import { isTtmaError } from '../../src/errors.js';
import { runTtma } from '../helpers/runTtma.js';

test('`ttma <command> --help` prints that command\'s usage and exits 0, for every command', async () => {
  for (const command of ['demo', 'gateway', 'doctor', 'platform', 'install', 'call', 'calls', 'dashboard', 'recording', 'deployments', 'sim']) {
    const run = await runTtma([command, '--help']);
    assert.equal(run.code, 0, `${command}: ${run.stderr}`);
    assert.match(run.stdout, new RegExp(`^usage: ttma ${command} \\[flags\\]`), command);
  }
  const short = await runTtma(['demo', '-h']);
  assert.equal(short.code, 0);
  assert.match(short.stdout, /--kill-gateway/, 'the demo\'s own flags are listed');
});

test('number flags take decimal digits only: an empty value (an unset variable) is refused, not a random port', async () => {
  for (const value of ['', ' 8080 ', '0x1F90', '1e3', '80.0', '+80', '8080a']) {
    assert.throws(() => intFlag('--local-port', value, 8081, 0, 65_535), (err) => isTtmaError(err, 'TTMA_ERR_CLI_USAGE') && err.message.includes('--local-port'), JSON.stringify(value));
  }
  assert.equal(intFlag('--local-port', '8080', 8081, 0, 65_535), 8080);
  assert.equal(intFlag('--local-port', undefined, 8081, 0, 65_535), 8081);
  assert.equal(intFlag('--offset', '-5', 0, -10, 10), -5);
  const run = await runTtma(['gateway', '--local-port', '']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--local-port must be an integer from 0 to 65535, got ""/);
});
