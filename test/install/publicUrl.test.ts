/**
 * The platform's --public-url goes into every install token, and the
 * installer refuses a payload URL that breaks its rule only after the
 * one-time token is spent. So the platform checks it at start with the
 * installer's own rule (src/wire/installUrl.ts) and refuses to start; and a
 * mint with the loopback default says an installer elsewhere cannot use it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';
import { checkUrl } from '../../src/installer/fields.js';
import { openInstallEnvelope, parseInstallToken } from '../../src/wire/installToken.js';
import { installUrlProblem } from '../../src/wire/installUrl.js';
import { runTtma } from '../helpers/runTtma.js';
import type { Harness } from '../platform/helpers.js';
import { mint, redeem, startInstallPlatform, installBundles } from './helpers.js';

/** Real bundles: the platform mints only for bundles an installer would accept. */
const BUNDLES = await installBundles();
/** Each one the installer refuses: plain http to a remote host, an upper-case host, a query, a percent escape, a dot segment. */
const REFUSED = ['http://platform.example.com', 'https://Platform.example.com', 'https://platform.example.com/ttma?x=1', 'https://platform.example.com/a%20b', 'https://platform.example.com/a/../b'];

test('ttma platform refuses to start with a --public-url the installer would refuse, naming the flag', async () => {
  for (const url of REFUSED) {
    assert.throws(() => checkUrl('platformUrl', url), (err: unknown) => isTtmaError(err, ErrorCodes.INSTALL_FIELD), `the installer refuses ${url}`);
    // Refused while the settings are read, before any file is opened or port bound.
    const run = await runTtma(['platform', '--provider-url', 'http://127.0.0.1:9', '--provider-api-key-file', '/nonexistent/key', '--public-url', url]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /^ttma: TTMA_ERR_CONFIG: 1 configuration problem:\n {2}- publicUrl: .*installers refuse any other after spending the token.*; from flag --public-url\./);
    assert.equal(run.stdout, '');
  }
  const fromEnv = await runTtma(['platform', '--provider-url', 'http://127.0.0.1:9', '--provider-api-key-file', '/nonexistent/key'], { env: { TTMA_PUBLIC_URL: REFUSED[0]! } });
  assert.match(fromEnv.stderr, /publicUrl: plain http is allowed only to a loopback host; use https.*from env TTMA_PUBLIC_URL/);
});

test('a platform started in code refuses such a public URL too (TTMA_ERR_CONFIG)', async () => {
  for (const url of REFUSED) {
    const started = await startInstallPlatform({ ...BUNDLES, publicUrl: url }).catch((err: unknown) => err);
    if (!(started instanceof Error)) await (started as Harness).close();
    assert.ok(isTtmaError(started, ErrorCodes.CONFIG), `${url}: ${String(started)}`);
    assert.match(started.message, /^--public-url ".*": .*the installer refuses any other/);
  }
});

test('an https public URL is carried as given, with no warning; the loopback default warns at every mint', async () => {
  const url = 'https://platform.example.com/ttma/';
  assert.equal(installUrlProblem(url), null);
  const h = await startInstallPlatform({ ...BUNDLES, publicUrl: url });
  try {
    const minted = await mint(h);
    assert.equal(minted.status, 201);
    assert.equal(minted.body.warning, undefined);
    const payload = openInstallEnvelope((await redeem(h, minted.body.token)).body.envelope, parseInstallToken(minted.body.token), Date.now());
    assert.equal(payload['platformUrl'], 'https://platform.example.com/ttma');
    assert.equal((payload['gatewayBundle'] as { url: string }).url, 'https://platform.example.com/ttma/v1/bundles/gateway.tar.gz');
  } finally {
    await h.close();
  }
  const local = await startInstallPlatform(BUNDLES);
  try {
    const minted = await mint(local);
    assert.equal(minted.status, 201);
    assert.match(minted.body.warning, /^this token names the platform at http:\/\/127\.0\.0\.1:\d+, on this machine .*an installer on another machine cannot reach it; .*--public-url/);
    assert.ok(local.lines.some((l) => l.includes('"level":40') && l.includes('an installer on another machine cannot reach it')), 'logged as a warning');
  } finally {
    await local.close();
  }
});
