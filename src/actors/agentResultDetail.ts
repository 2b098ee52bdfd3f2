/**
 * The `detail` of a refused agent request's `result`: the error code and a
 * message meant for the agent, never our own log text. The signalling
 * client's messages name the request path, which holds the URL-encoded call
 * id (`platform refused /v1/signal/calls/v3%3A.../transfer: ...`), and a
 * socket error's text; the agent gets the code and the platform's public
 * message only.
 */
import { ErrorCodes, isTtmaError } from '../errors.js';
import { PlatformRefusal } from '../control/SignallingClient.js';
import { AgentRequestRefused } from './AgentRequestBudget.js';

export function agentResultDetail(err: unknown): string {
  // Ours, already `CODE: what to do` (AgentRequestBudget).
  if (err instanceof AgentRequestRefused) return err.message;
  if (err instanceof PlatformRefusal) return err.publicMessage ? `${err.code}: ${err.publicMessage}` : err.code;
  if (!isTtmaError(err)) return ErrorCodes.INTERNAL;
  // The signalling client's own failures (platform unreachable, an odd answer) name the path: the code says enough.
  if (err.code === ErrorCodes.PLATFORM) return err.code;
  // The gateway's own refusals (gateway full, a minute cap) are written for whoever asked.
  return err.message.startsWith(err.code) ? err.message : `${err.code}: ${err.message}`;
}
