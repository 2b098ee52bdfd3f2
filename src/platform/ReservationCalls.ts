/**
 * Which call each live cap reservation of this process is for. An answered
 * call reserves under its own id; a dial reserves under `dial-<command_id>`
 * before the provider names the call. Entries go when the call settles, so
 * the maps hold this process's live calls, not every call it ever saw. A
 * call that settles on another process is never forgotten here, so the maps
 * are bounded too: the oldest entry goes first, and whoever needs it falls
 * back to the call records (a cap's end, the live call audit).
 */
const MAX_ENTRIES = 100_000;

export class ReservationCalls {
  readonly #callOf = new Map<string, string>();
  readonly #reservationOf = new Map<string, string>();

  set(reservationId: string, callId: string): void {
    this.#callOf.set(reservationId, callId);
    this.#reservationOf.set(callId, reservationId);
    if (this.#callOf.size > MAX_ENTRIES) this.forgetReservation(this.#callOf.keys().next().value as string);
    if (this.#reservationOf.size > MAX_ENTRIES) this.forgetCall(this.#reservationOf.keys().next().value as string);
  }

  callOf(reservationId: string): string | undefined {
    return this.#callOf.get(reservationId);
  }

  /** The call ended and settled. */
  forgetCall(callId: string): void {
    const reservationId = this.#reservationOf.get(callId);
    this.#reservationOf.delete(callId);
    if (reservationId !== undefined && this.#callOf.get(reservationId) === callId) this.#callOf.delete(reservationId);
  }

  /** The reservation was given up before its call could be owned. */
  forgetReservation(reservationId: string): void {
    const callId = this.#callOf.get(reservationId);
    this.#callOf.delete(reservationId);
    if (callId !== undefined && this.#reservationOf.get(callId) === reservationId) this.#reservationOf.delete(callId);
  }

  get size(): number {
    return this.#callOf.size;
  }
}
