/**
 * How an install failure reads (fails closed, FAQ-08): always a TtmaError
 * with a message, never a stack trace, and it says what became of the
 * one-time token, since that decides what the user does next.
 */
import { ErrorCodes, TtmaError, isTtmaError } from '../errors.js';

export interface TokenState {
  /**
   * unused: not sent yet; sent: sent and refused, not taken; kept: refused
   * for this machine before the platform looked at it (it works on another);
   * maybe-spent: a 5xx or no answer, so the platform may have taken it;
   * spent: it answered 200.
   */
  phase: 'unused' | 'sent' | 'kept' | 'maybe-spent' | 'spent';
  /** Once the payload is opened and checked. */
  deploymentId?: string;
}

/** A failure nothing checked for (a full disk, a race with another process): named by its path. */
function unexpected(err: unknown): TtmaError {
  const e = err as NodeJS.ErrnoException & { dest?: unknown };
  if (typeof e?.code === 'string' && typeof e.path === 'string') {
    const dest = typeof e.dest === 'string' ? ` to ${e.dest}` : '';
    return new TtmaError(ErrorCodes.INSTALL_TARGET, `cannot ${e.syscall ?? 'write'} ${e.path}${dest} (${e.code}); nothing was written`, 2, { cause: err });
  }
  return new TtmaError(ErrorCodes.INSTALL_TARGET, `install failed (${String(e?.message ?? err)}); nothing was written`, 2, { cause: err });
}

/** `err` as the TtmaError the user sees; `leftovers` are paths the cleanup could not remove. */
export function installFailure(err: unknown, token: TokenState, leftovers: string[] = []): TtmaError {
  const base = isTtmaError(err) ? err : unexpected(err);
  let message = base.message;
  const notes: string[] = [];
  if (leftovers.length > 0) {
    message = message.replace(/; nothing was (unpacked or )?written$/, '');
    notes.push(`the cleanup could not remove (remove by hand): ${leftovers.join(', ')}`);
  }
  if (token.phase === 'unused') notes.push('the install token was not used: fix this and run the same command again');
  if (token.phase === 'kept') notes.push('the install token was not used');
  if (token.phase === 'maybe-spent') {
    notes.push(
      'the install token may be used up: the platform failed or did not answer after receiving it, and may have taken it; run the same command again once the platform is healthy, and if it says the token is unknown or used, ask the platform operator for a new one',
    );
  }
  if (token.phase === 'spent') {
    const which = token.deploymentId ? ` for deployment ${token.deploymentId}` : '';
    notes.push(`the install token is used up (it works once): ask the platform operator for a new one${which}`);
  }
  if (notes.length === 0) return base;
  return new TtmaError(base.code, `${message}; ${notes.join('; ')}`, base.status, { cause: isTtmaError(err) ? err.cause ?? err : err });
}
