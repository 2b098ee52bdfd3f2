/** `ttma sim`: argument refusals, and a real child process: ready line, REST up, clean exit on SIGTERM. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import nacl from 'tweetnacl';
import { isTtmaError } from '../../src/errors.js';
import { parseSimArgs } from '../../src/sim/cli.js';
import { runTtma } from '../helpers/runTtma.js';

const CLI_MODULE = fileURLToPath(new URL('../../src/sim/cli.js', import.meta.url));

describe('ttma sim command line', () => {
  let dir: string;
  let keyFile: string;
  let signingFile: string;
  const keyPair = nacl.sign.keyPair();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ttma-sim-cli-'));
    keyFile = join(dir, 'api-key');
    signingFile = join(dir, 'signing-key');
    await writeFile(keyFile, 'cli-test-key-0123456789\n', { mode: 0o600 });
    await writeFile(signingFile, `${Buffer.from(keyPair.secretKey).toString('base64')}\n`, { mode: 0o600 });
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names an unknown flag, and says what is missing or wrong', async () => {
    await assert.rejects(parseSimArgs(['--api-key-file', 'x', '--bogus']), (err: unknown) => {
      assert.ok(isTtmaError(err, 'TTMA_ERR_CLI_USAGE'));
      assert.match(err.message, /--bogus/);
      return true;
    });
    await assert.rejects(parseSimArgs([], {}), /--api-key-file/);
    await assert.rejects(parseSimArgs(['--port', '70000', '--api-key-file', keyFile]), /--port/);
    await assert.rejects(parseSimArgs(['--api-key-file', join(dir, 'missing')]), /cannot read --api-key-file/);
    await assert.rejects(parseSimArgs(['--api-key-file', keyFile, '--signing-key-file', keyFile]), /64-byte/);
    await assert.rejects(parseSimArgs(['--api-key-file', keyFile, '--tunnel', 'no-equals-sign']), /HOST=ws/);
    const ok = await parseSimArgs([
      '--api-key-file', keyFile,
      '--signing-key-file', signingFile,
      '--webhook-url', 'http://127.0.0.1:1/a',
      '--webhook-url', 'http://127.0.0.1:2/b',
      '--tunnel', 'gw.example.com=ws://127.0.0.1:3',
    ]);
    assert.equal(ok.apiKey, 'cli-test-key-0123456789');
    assert.deepEqual(ok.webhookUrls, ['http://127.0.0.1:1/a', 'http://127.0.0.1:2/b']);
    assert.deepEqual(ok.tunnels, { 'gw.example.com': 'ws://127.0.0.1:3' });
    assert.equal(ok.generatedKey, false);
    assert.equal(ok.onStreamFailure, 'hangup', 'a failed stream ends its call unless asked otherwise');
    assert.equal((await parseSimArgs(['--api-key-file', keyFile, '--on-stream-failure', 'continue'])).onStreamFailure, 'continue');
    await assert.rejects(parseSimArgs(['--api-key-file', keyFile, '--on-stream-failure', 'retry']), /--on-stream-failure must be hangup or continue, got "retry"/);
    assert.equal((await parseSimArgs(['--api-key-file', keyFile])).recordingUrlTtlMs, undefined);
    assert.equal((await parseSimArgs(['--api-key-file', keyFile, '--recording-url-ttl', '30'])).recordingUrlTtlMs, 30_000);
    for (const bad of ['0', '-5', '1.5', '10m', '', '604801', '9999999']) {
      await assert.rejects(parseSimArgs(['--api-key-file', keyFile, `--recording-url-ttl=${bad}`]), /--recording-url-ttl must be a whole number of seconds from 1 to 604800/, bad);
    }
  });

  it('ttma sim --write-signing-key FILE: a key pair the simulator then signs with (FILE 0600, FILE.pub), never overwriting', async () => {
    const file = join(dir, 'kept-signing-key');
    const run = await runTtma(['sim', '--write-signing-key', file], { env: { HOME: dir } });
    assert.equal(run.code, 0, run.stderr);
    const line = JSON.parse(run.stdout) as { event: string; file: string; publicKeyFile: string; publicKey: string };
    assert.deepEqual({ event: line.event, file: line.file, publicKeyFile: line.publicKeyFile }, { event: 'signing-key-written', file, publicKeyFile: `${file}.pub` });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(`${file}.pub`)).mode & 0o777, 0o644);
    const publicKey = (await readFile(`${file}.pub`, 'utf8')).trim();
    assert.equal(publicKey, line.publicKey);
    assert.equal(Buffer.from(publicKey, 'base64').length, 32);
    // The simulator reads it back as its --signing-key-file, the same key pair.
    const secretKey = (await parseSimArgs(['--api-key-file', keyFile, '--signing-key-file', file])).signingSecretKey;
    assert.equal(Buffer.from(nacl.sign.keyPair.fromSecretKey(secretKey).publicKey).toString('base64'), publicKey);
    assert.ok(!run.stdout.includes(Buffer.from(secretKey).toString('base64')), 'the secret key is not printed');
    // A second run would replace a key in use: refused, both files unchanged.
    const before = await readFile(file, 'utf8');
    const again = await runTtma(['sim', '--write-signing-key', file], { env: { HOME: dir } });
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /exists already/);
    assert.equal(await readFile(file, 'utf8'), before);
    assert.equal((await readFile(`${file}.pub`, 'utf8')).trim(), publicKey);
    // Only the public file there: refused too, and no half-written pair is left.
    const lonely = join(dir, 'lonely');
    await writeFile(`${lonely}.pub`, 'x\n');
    assert.notEqual((await runTtma(['sim', '--write-signing-key', lonely], { env: { HOME: dir } })).code, 0);
    await assert.rejects(stat(lonely), { code: 'ENOENT' });
    // It starts no simulator: another flag with it is a usage error.
    const mixed = await runTtma(['sim', '--write-signing-key', join(dir, 'mixed'), '--port', '0'], { env: { HOME: dir } });
    assert.equal(mixed.code, 2, mixed.stderr);
    assert.match(mixed.stderr, /takes no other flag/);
  });

  it('prints one ready line, serves the API, and exits 0 on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import(${JSON.stringify(CLI_MODULE)}).then((m) => m.runSimCommand(process.argv.slice(1))).catch((e) => { console.error(e.message); process.exit(2); });`,
        '--',
        '--port', '0',
        '--api-key-file', keyFile,
        '--signing-key-file', signingFile,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TTMA_LOG_LEVEL: 'warn' } },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const lines = createInterface({ input: child.stdout });
    const stdoutLines: string[] = [];
    const stdoutClosed = new Promise<void>((resolve) => lines.once('close', resolve));
    lines.on('line', (line) => stdoutLines.push(line));
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      void exited.then((code) => reject(new Error(`sim exited (${code}) before its ready line: ${stderr}`)));
    });
    const ready = JSON.parse(first) as { event: string; component: string; port: number; publicKey: string };
    assert.equal(ready.event, 'ready');
    assert.equal(ready.component, 'sim');
    assert.equal(ready.publicKey, Buffer.from(keyPair.publicKey).toString('base64'));
    assert.ok(ready.port > 0);

    const records = `http://127.0.0.1:${ready.port}/v2/detail_records?filter[record_type]=call-control`;
    const refused = await fetch(records);
    assert.equal(refused.status, 401);
    const ok = await fetch(records, { headers: { authorization: 'Bearer cli-test-key-0123456789' } });
    assert.deepEqual(await ok.json(), { data: [], meta: { total_pages: 0, total_results: 0, page_number: 1, page_size: 20 } });

    const stoppedAt = performance.now();
    child.kill('SIGTERM');
    const code = await exited;
    assert.equal(code, 0, `exit code (stderr: ${stderr})`);
    assert.ok(performance.now() - stoppedAt < 3000, 'stops promptly');
    await stdoutClosed;
    assert.equal(stdoutLines.length, 1, `one line on stdout, got: ${stdoutLines.join(' | ')}`);
  });
});
