/**
 * CallTakeover on its own, with a scripted platform list: the start's list is
 * asked for once and again after a failure; streams that failed for unknown
 * calls are gathered into one list and only calls it shows answered are
 * taken; a call the process already knows is never taken twice.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { CallTakeover, MAX_LATE_WAITING, type CallTakeoverDeps } from '../../src/actors/CallTakeover.js';
import { TtmaError, ErrorCodes } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import type { LiveCallView } from '../../src/wire/platformApi.js';

const view = (id: string, state: 'answered' | 'initiated', direction: 'incoming' | 'outgoing' = 'incoming'): LiveCallView => ({
  call_control_id: id,
  direction,
  from: '+15550000001',
  to: '+15550000002',
  state,
  started_at: new Date().toISOString(),
  answered_at: state === 'answered' ? new Date().toISOString() : null,
});

function harness(lists: Array<LiveCallView[] | Error>) {
  const known = new Set<string>();
  const adopted: string[] = [];
  const answered: string[] = [];
  let asked = 0;
  const deps: CallTakeoverDeps = {
    liveCalls: async () => {
      const next = lists[Math.min(asked++, lists.length - 1)]!;
      if (next instanceof Error) throw next;
      return next;
    },
    knows: (id) => known.has(id),
    closing: () => false,
    adopt: (v) => (known.add(v.call_control_id), adopted.push(v.call_control_id), true),
    answer: (v) => (known.add(v.call_control_id), answered.push(v.call_control_id), true),
    log: createLogger('test', 'silent'),
    timing: { attempts: 3, retryMs: 10, lateBatchMs: 30 },
  };
  return { takeover: new CallTakeover(deps), known, adopted, answered, asked: () => asked };
}

// CallTakeover's waits do not hold a process open (a stopping gateway need not wait for them): this does, for the tests.
const keepAlive = setInterval(() => {}, 1_000);
after(() => clearInterval(keepAlive));

const paced = () => new TtmaError(ErrorCodes.RATE_LIMITED, 'rate limited', 429);

test('at start: answered calls are taken, ringing ones answered, known ones skipped; once a process, again after a failure', async () => {
  const h = harness([paced(), [view('v3:a', 'answered'), view('v3:b', 'initiated'), view('v3:known', 'answered')]]);
  h.known.add('v3:known');
  assert.equal(await h.takeover.atStart(), 1);
  assert.equal(await h.takeover.atStart(), 1, 'the first result, not a new list');
  assert.equal(h.asked(), 2, 'asked again once after the 429, then never');
  assert.deepEqual(h.adopted, ['v3:a']);
  assert.deepEqual(h.answered, ['v3:b']);
});

test('at start: a platform that never lists gives up after the attempts', async () => {
  const h = harness([paced()]);
  assert.equal(await h.takeover.atStart(), 0);
  assert.equal(h.asked(), 3);
});

test('streams failed for unknown calls: one list for a burst, only answered calls it names are taken', async () => {
  const h = harness([[], [view('v3:late-1', 'answered', 'outgoing'), view('v3:late-2', 'answered'), view('v3:other', 'answered'), view('v3:ringing', 'initiated')]]);
  await h.takeover.atStart();
  for (const id of ['v3:late-1', 'v3:late-2', 'v3:late-1', 'v3:ringing', 'v3:not-listed']) h.takeover.onUnknownStreamFailure(id);
  await h.takeover.settled();
  assert.equal(h.asked(), 2, 'the start\'s list and one for the burst');
  assert.deepEqual(h.adopted.sort(), ['v3:late-1', 'v3:late-2'], 'not v3:other (no failed stream here) nor v3:not-listed');
  assert.deepEqual(h.answered, [], 'a failed stream is not a ringing call to answer');
  assert.equal(h.takeover.lateAdopted, 2);
  // A known call's failure asks nothing.
  h.takeover.onUnknownStreamFailure('v3:late-1');
  await h.takeover.settled();
  assert.equal(h.asked(), 2);
});

test('a late failure waits for the start\'s list, which may take the call itself', async () => {
  const h = harness([[view('v3:both', 'answered')], [view('v3:both', 'answered')]]);
  h.takeover.onUnknownStreamFailure('v3:both');
  const atStart = h.takeover.atStart();
  await h.takeover.settled();
  await atStart;
  assert.deepEqual(h.adopted, ['v3:both'], 'taken once');
});

test('failures that arrive while a late list is out get a list of their own', async () => {
  const h = harness([[], [view('v3:first', 'answered')], [view('v3:first', 'answered'), view('v3:second', 'answered')]]);
  await h.takeover.atStart();
  h.takeover.onUnknownStreamFailure('v3:first');
  await new Promise((resolve) => setTimeout(resolve, 35));
  h.takeover.onUnknownStreamFailure('v3:second');
  await h.takeover.settled();
  assert.deepEqual(h.adopted, ['v3:first', 'v3:second']);
  assert.equal(h.asked(), 3);
});

test('a flood of failures for unknown calls waits in a bounded set: one list, the rest not looked for', async () => {
  const h = harness([[], []]);
  await h.takeover.atStart();
  for (let i = 0; i < MAX_LATE_WAITING + 500; i++) h.takeover.onUnknownStreamFailure(`v3:unknown-${i}`);
  assert.equal(h.takeover.lateDropped, 500);
  await h.takeover.settled();
  assert.equal(h.asked(), 2, 'one list for the whole burst');
  assert.deepEqual(h.adopted, []);
});
