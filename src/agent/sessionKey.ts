/**
 * The OpenClaw session a call's turns go to (the `x-openclaw-session-key`
 * header and `user`): one per far party, so the agent keeps the
 * conversation with that person across calls. Shared by the openclaw
 * adapter and realtime's consult_agent, so both name the same session.
 *
 * - The far party: the caller on an incoming call, the callee on an
 *   outgoing one (our own number would put every callee in one session).
 * - A far number that is not E.164 (a withheld caller id: providers send
 *   `anonymous`, `restricted`, `private`, or nothing) names nobody: the call
 *   gets a session of its own, or every withheld caller would share one.
 */
import type { AgentCall } from './AgentAdapter.js';

/** E.164 as the gateway's config checks it: + and 7 to 15 digits, no leading 0. */
const E164 = /^\+[1-9]\d{6,14}$/;

/** `caller`: one session per far party's number; `call`: one per call. */
export type SessionScope = 'caller' | 'call';

export function farParty(call: Pick<AgentCall, 'direction' | 'from' | 'to'>): string {
  return call.direction === 'incoming' ? call.from : call.to;
}

export function openClawSessionKey(call: Pick<AgentCall, 'callId' | 'direction' | 'from' | 'to'>, scope: SessionScope = 'caller'): string {
  const party = farParty(call);
  return scope === 'caller' && E164.test(party) ? `ttma:${party}` : `ttma:call:${call.callId}`;
}
