/**
 * The gateway's side of the local operator challenge-response
 * (src/front/LocalOperatorAuth.ts) on a clock the test moves: a nonce works
 * once, within its 30 s, for the request it was signed for; one from another
 * gateway process, or the same nonce spelled another way, is unknown; a
 * flood of nonce requests stores nothing and locks nobody out; the table of
 * spent nonces, full, refuses instead of forgetting one early.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ErrorCodes } from '../../src/errors.js';
import { LOCAL_NONCE_TTL_MS, LocalOperatorAuth } from '../../src/front/LocalOperatorAuth.js';
import { authorizationHeader, helloMac, localAuthKeys, macEquals, requestMac, responseMac } from '../../src/wire/localAuth.js';

const SECRET = randomBytes(32).toString('base64url');
const KEYS = localAuthKeys(SECRET);
const PORT = 8081;
const PATH = '/v1/local/calls?recent=5&source=gateway';
const NO_BODY = Buffer.alloc(0);

function clock() {
  const c = { t: 1_000, now: () => c.t };
  return c;
}

function challenge(): string {
  return randomBytes(32).toString('base64url');
}

function signed(auth: LocalOperatorAuth, method = 'GET', path = PATH, body = NO_BODY, keys = KEYS): { nonce: string; header: string } {
  const nonce = auth.issue(challenge(), PORT)!.nonce;
  return { nonce, header: authorizationHeader(nonce, requestMac(keys, nonce, PORT, method, path, body)) };
}

describe('LocalOperatorAuth', () => {
  it('issues a nonce with a proof over the client challenge, and accepts the request signed over it once', () => {
    const auth = new LocalOperatorAuth(SECRET);
    const c = challenge();
    const issued = auth.issue(c, PORT)!;
    assert.match(issued.nonce, /^[A-Za-z0-9_-]{75}$/);
    assert.equal(issued.expires_in_ms, LOCAL_NONCE_TTL_MS);
    assert.ok(macEquals(issued.proof, helloMac(KEYS, c, issued.nonce, PORT)));
    assert.ok(!macEquals(issued.proof, helloMac(KEYS, challenge(), issued.nonce, PORT)), 'bound to the challenge');
    assert.ok(!macEquals(issued.proof, helloMac(KEYS, c, issued.nonce, PORT + 1)), 'bound to the port');
    const header = authorizationHeader(issued.nonce, requestMac(KEYS, issued.nonce, PORT, 'GET', PATH, NO_BODY));
    assert.deepEqual(auth.verify(header, PORT, 'GET', PATH, NO_BODY), { ok: true, nonce: issued.nonce });
    const again = auth.verify(header, PORT, 'GET', PATH, NO_BODY);
    assert.equal(again.ok, false);
    assert.deepEqual(again.ok ? null : [again.status, again.code, again.nonce], [401, ErrorCodes.LOCAL_NONCE, issued.nonce]);
    assert.match(again.ok ? '' : again.message, /already used/);
    assert.equal(auth.issue('short', PORT), null);
    assert.equal(auth.issue(`${challenge()}\n`, PORT), null);
  });

  it('refuses a nonce once its 30 s are over', () => {
    const c = clock();
    const auth = new LocalOperatorAuth(SECRET, { now: c.now });
    const late = signed(auth);
    const inTime = signed(auth);
    c.t += LOCAL_NONCE_TTL_MS - 1;
    assert.equal(auth.verify(inTime.header, PORT, 'GET', PATH, NO_BODY).ok, true);
    c.t += 1;
    const verdict = auth.verify(late.header, PORT, 'GET', PATH, NO_BODY);
    assert.equal(verdict.ok, false);
    assert.equal(verdict.ok ? '' : verdict.code, ErrorCodes.LOCAL_NONCE);
    assert.match(verdict.ok ? '' : verdict.message, /expired/);
  });

  it('refuses a MAC over another method, path, query, body or port, or under another secret; a failed MAC does not spend the nonce', () => {
    const auth = new LocalOperatorAuth(SECRET);
    const nonce = auth.issue(challenge(), PORT)!.nonce;
    const body = Buffer.from('{"recording":true}');
    const mac = (method: string, path: string, b: Buffer, port = PORT, keys = KEYS) => authorizationHeader(nonce, requestMac(keys, nonce, port, method, path, b));
    const wrong: Array<[string, string]> = [
      ['another method', mac('GET', '/v1/local/recording', body)],
      ['another path', mac('POST', '/v1/local/calls', body)],
      ['a query added', mac('POST', '/v1/local/recording?x=1', body)],
      ['another body', mac('POST', '/v1/local/recording', Buffer.from('{"recording":false}'))],
      ['another port', mac('POST', '/v1/local/recording', body, PORT + 1)],
      ['another secret', mac('POST', '/v1/local/recording', body, PORT, localAuthKeys(randomBytes(32).toString('base64url')))],
      ['a random MAC', authorizationHeader(nonce, randomBytes(32).toString('base64url'))],
    ];
    for (const [what, header] of wrong) {
      const verdict = auth.verify(header, PORT, 'POST', '/v1/local/recording', body);
      assert.equal(verdict.ok, false, what);
      assert.equal(verdict.ok ? '' : verdict.code, ErrorCodes.AUTH, what);
    }
    assert.equal(auth.spentCount, 0);
    assert.equal(auth.verify(mac('POST', '/v1/local/recording', body), PORT, 'POST', '/v1/local/recording', body).ok, true);
  });

  it('does not know a nonce of another gateway process, a forged one, or a known one spelled another way', () => {
    const auth = new LocalOperatorAuth(SECRET);
    const other = new LocalOperatorAuth(SECRET);
    const theirs = signed(other);
    const forged = randomBytes(56).toString('base64url');
    const used = signed(auth);
    assert.equal(auth.verify(used.header, PORT, 'GET', PATH, NO_BODY).ok, true);
    // base64url leaves 2 spare bits in the last character: the same bytes, another string (a replay under a new name).
    const last = used.nonce.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = used.nonce.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1]!;
    assert.deepEqual(Buffer.from(respelled, 'base64url'), Buffer.from(used.nonce, 'base64url'));
    for (const [what, nonce] of [['another process', theirs.nonce], ['forged', forged], ['respelled', respelled]] as const) {
      const header = authorizationHeader(nonce, requestMac(KEYS, nonce, PORT, 'GET', PATH, NO_BODY));
      const verdict = auth.verify(header, PORT, 'GET', PATH, NO_BODY);
      assert.equal(verdict.ok, false, what);
      assert.deepEqual(verdict.ok ? null : [verdict.code, verdict.nonce], [ErrorCodes.LOCAL_NONCE, null], what);
      assert.match(verdict.ok ? '' : verdict.message, /unknown nonce/, what);
      assert.equal(auth.issuedNonce(header), null, `${what}: its refusal is not signed`);
    }
  });

  it('refuses a missing or malformed header, and the agent secret as a bearer', () => {
    const auth = new LocalOperatorAuth(SECRET);
    for (const header of ['', `Bearer ${SECRET}`, 'TTMA-HMAC nonce=x,mac=y', `TTMA-HMAC ${'a'.repeat(75)}`]) {
      const verdict = auth.verify(header, PORT, 'GET', PATH, NO_BODY);
      assert.equal(verdict.ok, false, header);
      assert.equal(verdict.ok ? '' : verdict.code, ErrorCodes.AUTH, header);
    }
    const bearer = auth.verify(`Bearer ${SECRET}`, PORT, 'GET', PATH, NO_BODY);
    assert.match(bearer.ok ? '' : bearer.message, /bearer is not accepted/);
  });

  it('stores nothing for nonces asked for: a flood of them locks nobody out', () => {
    const auth = new LocalOperatorAuth(SECRET);
    const mine = signed(auth);
    for (let i = 0; i < 100_000; i++) auth.issue(challenge(), PORT);
    assert.equal(auth.spentCount, 0);
    assert.equal(auth.verify(mine.header, PORT, 'GET', PATH, NO_BODY).ok, true, 'a nonce issued before the flood still works');
    assert.equal(auth.spentCount, 1);
  });

  it('full of spent nonces, refuses (503) rather than forget one early; they go once expired', () => {
    const c = clock();
    const auth = new LocalOperatorAuth(SECRET, { now: c.now, maxSpent: 3 });
    const spent = [signed(auth), signed(auth), signed(auth)];
    for (const s of spent) assert.equal(auth.verify(s.header, PORT, 'GET', PATH, NO_BODY).ok, true);
    const fourth = signed(auth);
    const full = auth.verify(fourth.header, PORT, 'GET', PATH, NO_BODY);
    assert.deepEqual(full.ok ? null : [full.status, full.code], [503, ErrorCodes.OVERLOADED]);
    for (const s of spent) assert.equal(auth.verify(s.header, PORT, 'GET', PATH, NO_BODY).ok, false, 'still refused as used');
    c.t += LOCAL_NONCE_TTL_MS;
    const fresh = signed(auth);
    assert.equal(auth.verify(fresh.header, PORT, 'GET', PATH, NO_BODY).ok, true);
    assert.equal(auth.spentCount, 1, 'the expired ones are forgotten');
  });

  it('signs answers with a key of their own: a request MAC is never a valid answer MAC', () => {
    const auth = new LocalOperatorAuth(SECRET);
    const { nonce } = signed(auth);
    const body = Buffer.from('{"ok":true}');
    const answer = auth.sign(nonce, PORT, 200, body);
    assert.equal(answer, responseMac(KEYS, nonce, PORT, 200, body));
    assert.notEqual(answer, auth.sign(nonce, PORT, 401, body));
    assert.notEqual(answer, auth.sign(nonce, PORT + 1, 200, body));
    assert.notEqual(auth.sign(nonce, PORT, 200, { contentType: 'audio/mpeg', length: 10 }), auth.sign(nonce, PORT, 200, { contentType: 'audio/mpeg', length: 11 }));
    // The same fields under the request key (what a squatter could reflect) do not make the answer's MAC.
    const reflected = requestMac(KEYS, nonce, PORT, 'GET', PATH, NO_BODY);
    assert.ok(!macEquals(reflected, responseMac(KEYS, nonce, PORT, 200, body)));
  });
});
