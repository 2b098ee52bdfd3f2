/**
 * Outbound dials whose answer from the platform has not reached us yet.
 *
 * An outbound call's first stream runs on a media id we chose (the provider
 * names the call only in the dial's answer). A callee that answers at once
 * can get the provider's media socket, and its `call.answered` webhook, here
 * before that answer does. Without this, the socket was refused for an
 * unknown call (burning its one-time token) and the webhooks were dropped, so
 * the call sat without media until a timer ended it.
 *
 * So: a media upgrade on the media id of a dial in flight waits for the dial
 * to settle (its token untouched until then), and webhooks about a call we do
 * not know yet are held while any dial is in flight and replayed once the
 * dial names the call. Bounded: at most MAX_HELD events; what is held is
 * dropped once no dial is in flight.
 */
import type { WebhookEnvelope } from '../wire/telnyx.js';

/** A burst of dials answered at once sends a few events each; more than this is not a race. */
export const MAX_HELD = 256;

export class DialsInFlight {
  /** Media id -> settles once the dial's call is set up, or the dial failed. */
  readonly #pending = new Map<string, Promise<void>>();
  readonly #held = new Map<string, WebhookEnvelope[]>();
  #heldCount = 0;
  dropped = 0;

  /** A dial on `mediaId` starts; call the returned function once it is set up or failed. */
  begin(mediaId: string): () => void {
    let settle!: () => void;
    this.#pending.set(mediaId, new Promise<void>((resolve) => (settle = resolve)));
    return () => {
      this.#pending.delete(mediaId);
      settle();
      if (this.#pending.size === 0) {
        this.#held.clear();
        this.#heldCount = 0;
      }
    };
  }

  /** When `pathId` is the media id of a dial in flight: a promise that settles with the dial. */
  settled(pathId: string): Promise<void> | undefined {
    return this.#pending.get(pathId);
  }

  /** Settles once every dial in flight now has (shutdown waits for them: a dial answered meanwhile is hung up by its own path). */
  idle(): Promise<void> {
    return Promise.all([...this.#pending.values()]).then(() => undefined);
  }

  /** Holds an event about an unknown call while a dial is in flight; false: not held (no dial, or full). */
  hold(callId: string, envelope: WebhookEnvelope): boolean {
    if (this.#pending.size === 0) return false;
    if (this.#heldCount >= MAX_HELD) {
      this.dropped++;
      return false;
    }
    const events = this.#held.get(callId);
    if (events) events.push(envelope);
    else this.#held.set(callId, [envelope]);
    this.#heldCount++;
    return true;
  }

  /** The events held for a call the dial just named, oldest first (and forgets them). */
  take(callId: string): WebhookEnvelope[] {
    const events = this.#held.get(callId) ?? [];
    this.#held.delete(callId);
    this.#heldCount -= events.length;
    return events;
  }
}
