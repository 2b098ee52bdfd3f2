/** One-time dashboard sign-in links: once, for a minute, for one deployment, kept only as a digest. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DashboardLinks, LINK_TTL_MS, MAX_LINKS_PER_DEPLOYMENT } from '../../src/platform/DashboardLinks.js';

describe('DashboardLinks', () => {
  it('a code signs its deployment in once, and only within the minute', () => {
    let now = 5_000_000;
    const links = new DashboardLinks({ now: () => now });
    const first = links.issue('dep-a');
    assert.match(first.code, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(first.expiresAtMs, now + LINK_TTL_MS);
    assert.equal(links.redeem(first.code), 'dep-a');
    assert.equal(links.redeem(first.code), null, 'spent');
    const late = links.issue('dep-a');
    now += LINK_TTL_MS - 1;
    const justInTime = links.issue('dep-b');
    now += 1;
    assert.equal(links.redeem(late.code), null, 'expired exactly at the minute');
    assert.equal(links.redeem(late.code), null);
    assert.equal(links.redeem(justInTime.code), 'dep-b');
  });

  it('refuses guessed, altered and malformed codes without spending the real one', () => {
    const links = new DashboardLinks();
    const { code } = links.issue('dep-a');
    const altered = `${code.slice(0, -1)}${code.endsWith('A') ? 'B' : 'A'}`;
    for (const bad of [altered, `${code}x`, code.slice(1), '', ' '.repeat(43), `${code.slice(0, 42)}=`, code.toUpperCase() === code ? 'a'.repeat(43) : code.toUpperCase()]) {
      assert.equal(links.redeem(bad), null, JSON.stringify(bad));
    }
    assert.equal(links.redeem(code), 'dep-a');
  });

  it(`keeps at most ${MAX_LINKS_PER_DEPLOYMENT} waiting codes per deployment, dropping its oldest, never another's`, () => {
    const links = new DashboardLinks();
    const other = links.issue('dep-b');
    const codes = Array.from({ length: MAX_LINKS_PER_DEPLOYMENT + 2 }, () => links.issue('dep-a').code);
    assert.equal(links.size, MAX_LINKS_PER_DEPLOYMENT + 1);
    assert.equal(links.redeem(codes[0]!), null);
    assert.equal(links.redeem(codes[1]!), null);
    assert.equal(links.redeem(codes.at(-1)!), 'dep-a');
    assert.equal(links.redeem(other.code), 'dep-b', "a deployment asking many times does not push out another's link");
  });

  it('revoke ends the waiting codes of one deployment only; expired ones are swept', () => {
    let now = 0;
    const links = new DashboardLinks({ now: () => now });
    const a = links.issue('dep-a');
    const b = links.issue('dep-b');
    links.revoke('dep-a');
    assert.equal(links.redeem(a.code), null);
    assert.equal(links.size, 1);
    now += LINK_TTL_MS;
    links.issue('dep-c');
    assert.equal(links.size, 1, 'the expired code of dep-b was swept');
    assert.equal(links.redeem(b.code), null);
  });
});
