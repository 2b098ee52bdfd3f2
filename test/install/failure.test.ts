/**
 * How an install failure reads: a failure nothing checked for (here a real
 * filesystem error) becomes a TtmaError naming the path, and every failure
 * says what became of the one-time token.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ErrorCodes, TtmaError, isTtmaError } from '../../src/errors.js';
import { installFailure } from '../../src/installer/failure.js';

test('a filesystem error becomes a TtmaError naming the call and the path, without a stack in the message', async () => {
  const root = await mkdtemp(join(tmpdir(), 'ttma-failure-'));
  try {
    const raw = await mkdir(join(root, 'missing', 'install')).then(() => null, (err: unknown) => err);
    assert.ok(raw instanceof Error && !isTtmaError(raw));
    const err = installFailure(raw, { phase: 'spent', deploymentId: 'dep-1' });
    assert.ok(isTtmaError(err, ErrorCodes.INSTALL_TARGET));
    assert.equal(err.status, 2);
    assert.equal(err.cause, raw);
    assert.equal(
      err.message,
      `cannot mkdir ${root}/missing/install (ENOENT); nothing was written; the install token is used up (it works once): ask the platform operator for a new one for deployment dep-1`,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('the token note follows the phase: unused, sent (no note: the platform said why), spent; leftovers are named', () => {
  const refusal = new TtmaError(ErrorCodes.INSTALL_TOKEN, 'the platform refused the token: gone; nothing was written', 2);
  assert.equal(installFailure(refusal, { phase: 'sent' }), refusal);
  assert.match(installFailure(refusal, { phase: 'unused' }).message, /; the install token was not used: fix this and run the same command again$/);
  assert.match(installFailure(refusal, { phase: 'spent' }).message, /; the install token is used up \(it works once\): ask the platform operator for a new one$/);
  assert.match(installFailure(new Error('boom'), { phase: 'sent' }, ['/a/b']).message, /^install failed \(boom\); the cleanup could not remove \(remove by hand\): \/a\/b$/);
});

test('maybe-spent (a 5xx or no answer after sending): the note says the token may be used up and what to do', () => {
  const refusal = new TtmaError(ErrorCodes.INSTALL_TOKEN, 'the platform could not redeem the token (HTTP 503): store down; nothing was written', 2);
  assert.equal(
    installFailure(refusal, { phase: 'maybe-spent' }).message,
    'the platform could not redeem the token (HTTP 503): store down; nothing was written; the install token may be used up: the platform failed or did not answer after receiving it, and may have taken it; run the same command again once the platform is healthy, and if it says the token is unknown or used, ask the platform operator for a new one',
  );
});
