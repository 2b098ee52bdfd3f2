/** One-time dashboard sign-in links: once, for a minute, for one deployment, kept only as a digest. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DashboardLinks, LINK_TTL_MS, MAX_LINKS_PER_DEPLOYMENT } from '../../src/platform/DashboardLinks.js';

describe('DashboardLinks', () => {
  it('a code signs its deployment in once, and only within the minute', async () => {
    let now = 5_000_000;
    const links = new DashboardLinks({ now: () => now });
    const first = await links.issue('dep-a');
    assert.match(first.code, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(first.expiresAtMs, now + LINK_TTL_MS);
    assert.equal(((await links.redeem(first.code))?.subject ?? null), 'dep-a');
    assert.equal(((await links.redeem(first.code))?.subject ?? null), null, 'spent');
    const late = await links.issue('dep-a');
    now += LINK_TTL_MS - 1;
    const justInTime = await links.issue('dep-b');
    now += 1;
    assert.equal(((await links.redeem(late.code))?.subject ?? null), null, 'expired exactly at the minute');
    assert.equal(((await links.redeem(late.code))?.subject ?? null), null);
    assert.equal(((await links.redeem(justInTime.code))?.subject ?? null), 'dep-b');
  });

  it('refuses guessed, altered and malformed codes without spending the real one', async () => {
    const links = new DashboardLinks();
    const { code } = await links.issue('dep-a');
    const altered = `${code.slice(0, -1)}${code.endsWith('A') ? 'B' : 'A'}`;
    for (const bad of [altered, `${code}x`, code.slice(1), '', ' '.repeat(43), `${code.slice(0, 42)}=`, code.toUpperCase() === code ? 'a'.repeat(43) : code.toUpperCase()]) {
      assert.equal(((await links.redeem(bad))?.subject ?? null), null, JSON.stringify(bad));
    }
    assert.equal(((await links.redeem(code))?.subject ?? null), 'dep-a');
  });

  it(`keeps at most ${MAX_LINKS_PER_DEPLOYMENT} waiting codes per deployment, dropping its oldest, never another's`, async () => {
    const links = new DashboardLinks();
    const other = await links.issue('dep-b');
    const codes: string[] = [];
    for (let i = 0; i < MAX_LINKS_PER_DEPLOYMENT + 2; i++) codes.push((await links.issue('dep-a')).code);
    assert.equal(((await links.redeem(codes[0]!))?.subject ?? null), null);
    assert.equal(((await links.redeem(codes[1]!))?.subject ?? null), null);
    assert.equal(((await links.redeem(codes.at(-1)!))?.subject ?? null), 'dep-a');
    assert.equal(((await links.redeem(other.code))?.subject ?? null), 'dep-b', "a deployment asking many times does not push out another's link");
  });

  it('revoke ends the waiting codes of one deployment only; expired ones stay expired', async () => {
    let now = 0;
    const links = new DashboardLinks({ now: () => now });
    const a = await links.issue('dep-a');
    const b = await links.issue('dep-b');
    await links.revoke('dep-a');
    assert.equal(((await links.redeem(a.code))?.subject ?? null), null);
    now += LINK_TTL_MS;
    assert.equal(((await links.redeem(b.code))?.subject ?? null), null);
  });
});
