/** Dashboard sessions: cookies that expire, end, cannot be guessed or doubled, and a sign-in lockout. */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { MemoryDashboardStore } from '../../src/platform/store/MemoryDashboardStore.js';
import { httpRequest, signIn } from './dashboardHelpers.js';
import { startHarness } from './helpers.js';
import { DashboardSessions, FAILURE_WINDOW_MS, MAX_FAILURES, SESSION_COOKIE, SESSION_TTL_MS, sessionToken } from '../../src/platform/DashboardSessions.js';

function request(cookie?: string): IncomingMessage {
  return { headers: cookie === undefined ? {} : { cookie } } as IncomingMessage;
}

function tokenOf(setCookie: string): string {
  return /^ttma_dashboard=([A-Za-z0-9_-]{43});/.exec(setCookie)![1]!;
}

describe('DashboardSessions', () => {
  it('opens an HttpOnly, SameSite=Strict session scoped to /v1/admin/ that expires after 8 hours', async () => {
    let now = 1_000_000;
    const sessions = new DashboardSessions({ now: () => now });
    const setCookie = await sessions.open(null);
    assert.match(setCookie, /; Path=\/v1\/admin\/; Max-Age=28800; HttpOnly; SameSite=Strict$/);
    const cookie = `${SESSION_COOKIE}=${tokenOf(setCookie)}`;
    assert.equal(await sessions.valid(request(cookie)), true);
    assert.equal(await sessions.valid(request(`other=1; ${cookie}; x=y`)), true);
    now += SESSION_TTL_MS - 1;
    assert.equal(await sessions.valid(request(cookie)), true);
    now += 1;
    assert.equal(await sessions.valid(request(cookie)), false);
  });

  it('refuses a guessed token, a doubled cookie, a malformed one, and a closed session', async () => {
    const sessions = new DashboardSessions();
    const token = tokenOf(await sessions.open(null));
    const guessed = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    assert.equal(await sessions.valid(request(`${SESSION_COOKIE}=${guessed}`)), false);
    assert.equal(await sessions.valid(request(`${SESSION_COOKIE}=${token}; ${SESSION_COOKIE}=${token}`)), false, 'two cookies of our name: neither trusted');
    assert.equal(await sessions.valid(request(`${SESSION_COOKIE}=${token}x`)), false);
    assert.equal(await sessions.valid(request(`${SESSION_COOKIE}="${token}"`)), false);
    assert.equal(await sessions.valid(request()), false);
    assert.equal(sessionToken(request(`${SESSION_COOKIE}=${'a'.repeat(43)}; ${'x'.repeat(9000)}`)), null, 'an oversized header is not parsed');
    const cleared = await sessions.close(request(`${SESSION_COOKIE}=${token}`));
    assert.match(cleared, /^ttma_dashboard=; Path=\/v1\/admin\/; Max-Age=0;/);
    assert.equal(await sessions.valid(request(`${SESSION_COOKIE}=${token}`)), false);
  });

  it("keeps at most 64 operator sessions, dropping the oldest, and the store's close ends them all", async () => {
    const store = new MemoryDashboardStore();
    const sessions = new DashboardSessions({ store });
    const first = tokenOf(await sessions.open(null));
    const second = tokenOf(await sessions.open(null));
    for (let i = 0; i < 63; i++) await sessions.open(null);
    assert.equal(store.size(SESSION_COOKIE), 64);
    assert.equal(await sessions.valid(request(`${SESSION_COOKIE}=${first}`)), false);
    assert.equal(await sessions.valid(request(`${SESSION_COOKIE}=${second}`)), true);
    await store.close();
    assert.equal(await sessions.valid(request(`${SESSION_COOKIE}=${second}`)), false);
  });

  it(`locks sign-in after ${MAX_FAILURES} failures until the window ends`, async () => {
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

  it("a deployment's sessions: their own cookie and path, a subject, a bound per subject, revoked together", async () => {
    const sessions = new DashboardSessions({ cookieName: 'ttma_customer', path: '/v1/dashboard/', maxPerSubject: 2 });
    const setCookie = await sessions.open(null, 'dep-a');
    assert.match(setCookie, /^ttma_customer=[A-Za-z0-9_-]{43}; Path=\/v1\/dashboard\/; Max-Age=28800; HttpOnly; SameSite=Strict$/);
    const token = /^ttma_customer=([A-Za-z0-9_-]{43});/.exec(setCookie)![1]!;
    assert.equal(await sessions.subjectOf(request(`ttma_customer=${token}`)), 'dep-a');
    assert.equal(await sessions.subjectOf(request(`${SESSION_COOKIE}=${token}`)), null, "the operator's cookie name does not carry it");
    const b = /^ttma_customer=([A-Za-z0-9_-]{43});/.exec(await sessions.open(null, 'dep-b'))![1]!;
    await sessions.open(null, 'dep-a');
    await sessions.open(null, 'dep-a');
    assert.equal(await sessions.subjectOf(request(`ttma_customer=${token}`)), null, "dep-a's oldest went when it opened a third");
    assert.equal(await sessions.subjectOf(request(`ttma_customer=${b}`)), 'dep-b', "and dep-b's stayed");
    assert.equal(await sessions.revoke('dep-a'), 2);
    assert.equal(await sessions.subjectOf(request(`ttma_customer=${b}`)), 'dep-b');
  });

  it('accepts only sessions opened under its tag: a replaced admin token ends the sessions opened before', async () => {
    const store = new MemoryDashboardStore();
    const before = new DashboardSessions({ store, tag: 'tag-old' });
    const token = tokenOf(await before.open(null));
    assert.equal(await before.valid(request(`${SESSION_COOKIE}=${token}`)), true);
    // The same store (Redis outlives the process), a new admin token: the old cookie no longer reads.
    const after = new DashboardSessions({ store, tag: 'tag-new' });
    assert.equal(await after.valid(request(`${SESSION_COOKIE}=${token}`)), false);
    assert.deepEqual(await after.entryOf(request(`${SESSION_COOKIE}=${token}`)), { subject: '', tag: 'tag-old' });
    const fresh = tokenOf(await after.open(null));
    assert.equal(await after.valid(request(`${SESSION_COOKIE}=${fresh}`)), true);
  });

  it('signing out ends every well-formed session cookie the request carries, a planted second one included', async () => {
    const sessions = new DashboardSessions();
    const real = tokenOf(await sessions.open(null));
    const planted = 'A'.repeat(43);
    await sessions.close(request(`${SESSION_COOKIE}=${real}; ${SESSION_COOKIE}=${planted}`));
    assert.equal(await sessions.valid(request(`${SESSION_COOKIE}=${real}`)), false, 'the real session ended');
  });

  it('marks the cookie Secure when the browser came through a public name, not on the loopback', async () => {
    const sessions = new DashboardSessions();
    const via = (host: string) => ({ headers: { host } }) as IncomingMessage;
    assert.match(await sessions.open(via('platform.example.com')), /; Secure$/);
    assert.match(await sessions.close(via('platform.example.com')), /; Secure$/);
    for (const host of ['127.0.0.1:8080', 'localhost:8080', '[::1]:8080', 'LOCALHOST']) assert.doesNotMatch(await sessions.open(via(host)), /Secure/, host);
    assert.doesNotMatch(await sessions.open(null), /Secure/);
  });

  it("a platform restarted with a new admin token on the same store refuses the old token's sessions", async () => {
    const store = new MemoryDashboardStore();
    const first = await startHarness({ adminToken: 'first-admin-token-0123456789abcdef', dashboardStore: store });
    const second = await startHarness({ adminToken: 'second-admin-token-0123456789abcdef', dashboardStore: store });
    const portOf = (h: { base: string }) => Number(new URL(h.base).port);
    try {
      const cookie = await signIn(portOf(first), 'first-admin-token-0123456789abcdef');
      assert.equal((await httpRequest(portOf(first), 'GET', '/v1/admin/history.json', { cookie })).status, 200);
      assert.equal((await httpRequest(portOf(second), 'GET', '/v1/admin/history.json', { cookie })).status, 401);
      const fresh = await signIn(portOf(second), 'second-admin-token-0123456789abcdef');
      assert.equal((await httpRequest(portOf(second), 'GET', '/v1/admin/history.json', { cookie: fresh })).status, 200);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
