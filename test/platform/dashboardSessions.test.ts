/** Dashboard sessions: cookies that expire, end, cannot be guessed or doubled, and a sign-in lockout. */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { DashboardSessions, FAILURE_WINDOW_MS, MAX_FAILURES, SESSION_COOKIE, SESSION_TTL_MS, sessionToken } from '../../src/platform/DashboardSessions.js';

function request(cookie?: string): IncomingMessage {
  return { headers: cookie === undefined ? {} : { cookie } } as IncomingMessage;
}

function tokenOf(setCookie: string): string {
  return /^ttma_dashboard=([A-Za-z0-9_-]{43});/.exec(setCookie)![1]!;
}

describe('DashboardSessions', () => {
  it('opens an HttpOnly, SameSite=Strict session scoped to /v1/admin/ that expires after 8 hours', () => {
    let now = 1_000_000;
    const sessions = new DashboardSessions({ now: () => now });
    const setCookie = sessions.open();
    assert.match(setCookie, /; Path=\/v1\/admin\/; Max-Age=28800; HttpOnly; SameSite=Strict$/);
    const cookie = `${SESSION_COOKIE}=${tokenOf(setCookie)}`;
    assert.equal(sessions.valid(request(cookie)), true);
    assert.equal(sessions.valid(request(`other=1; ${cookie}; x=y`)), true);
    now += SESSION_TTL_MS - 1;
    assert.equal(sessions.valid(request(cookie)), true);
    now += 1;
    assert.equal(sessions.valid(request(cookie)), false);
    assert.equal(sessions.size, 0, 'an expired session is dropped');
  });

  it('refuses a guessed token, a doubled cookie, a malformed one, and a closed session', () => {
    const sessions = new DashboardSessions();
    const token = tokenOf(sessions.open());
    const guessed = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    assert.equal(sessions.valid(request(`${SESSION_COOKIE}=${guessed}`)), false);
    assert.equal(sessions.valid(request(`${SESSION_COOKIE}=${token}; ${SESSION_COOKIE}=${token}`)), false, 'two cookies of our name: neither trusted');
    assert.equal(sessions.valid(request(`${SESSION_COOKIE}=${token}x`)), false);
    assert.equal(sessions.valid(request(`${SESSION_COOKIE}="${token}"`)), false);
    assert.equal(sessions.valid(request()), false);
    assert.equal(sessionToken(request(`${SESSION_COOKIE}=${'a'.repeat(43)}; ${'x'.repeat(9000)}`)), null, 'an oversized header is not parsed');
    const cleared = sessions.close(request(`${SESSION_COOKIE}=${token}`));
    assert.match(cleared, /^ttma_dashboard=; Path=\/v1\/admin\/; Max-Age=0;/);
    assert.equal(sessions.valid(request(`${SESSION_COOKIE}=${token}`)), false);
  });

  it('keeps at most 64 sessions, dropping the oldest, and clear() ends them all', () => {
    const sessions = new DashboardSessions();
    const first = tokenOf(sessions.open());
    for (let i = 0; i < 64; i++) sessions.open();
    assert.equal(sessions.size, 64);
    assert.equal(sessions.valid(request(`${SESSION_COOKIE}=${first}`)), false);
    sessions.clear();
    assert.equal(sessions.size, 0);
  });

  it(`locks sign-in after ${MAX_FAILURES} failures until the window ends`, () => {
    let now = 5_000_000;
    const sessions = new DashboardSessions({ now: () => now });
    for (let i = 0; i < MAX_FAILURES; i++) {
      assert.equal(sessions.mayTry(), true, `attempt ${i + 1}`);
      sessions.failed();
    }
    assert.equal(sessions.mayTry(), false);
    assert.equal(sessions.retryAfterSec(), FAILURE_WINDOW_MS / 1000);
    now += FAILURE_WINDOW_MS - 1;
    assert.equal(sessions.mayTry(), false);
    now += 1;
    assert.equal(sessions.mayTry(), true);
  });

  it("a deployment's sessions: their own cookie and path, a subject, a bound per subject, revoked together", () => {
    const sessions = new DashboardSessions({ cookieName: 'ttma_customer', path: '/v1/dashboard/', maxPerSubject: 2 });
    const setCookie = sessions.open('dep-a');
    assert.match(setCookie, /^ttma_customer=[A-Za-z0-9_-]{43}; Path=\/v1\/dashboard\/; Max-Age=28800; HttpOnly; SameSite=Strict$/);
    const token = /^ttma_customer=([A-Za-z0-9_-]{43});/.exec(setCookie)![1]!;
    assert.equal(sessions.subjectOf(request(`ttma_customer=${token}`)), 'dep-a');
    assert.equal(sessions.subjectOf(request(`${SESSION_COOKIE}=${token}`)), null, "the operator's cookie name does not carry it");
    const b = /^ttma_customer=([A-Za-z0-9_-]{43});/.exec(sessions.open('dep-b'))![1]!;
    sessions.open('dep-a');
    sessions.open('dep-a');
    assert.equal(sessions.subjectOf(request(`ttma_customer=${token}`)), null, "dep-a's oldest went when it opened a third");
    assert.equal(sessions.subjectOf(request(`ttma_customer=${b}`)), 'dep-b', "and dep-b's stayed");
    assert.equal(sessions.revoke('dep-a'), 2);
    assert.equal(sessions.size, 1);
    assert.equal(sessions.subjectOf(request(`ttma_customer=${b}`)), 'dep-b');
  });
});
