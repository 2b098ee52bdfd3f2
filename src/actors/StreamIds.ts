/**
 * Which of a call's media streams a `streaming.failed` is about. A call may
 * have several streams in its life (a lost socket gets a new one, docs/control.md),
 * and the provider's events about them may arrive late or out of order
 * (DESIGN 3a): a failure of a stream that was already replaced must not end
 * the call, nor make the gateway ask again (which costs the stream now
 * connecting its request). Streams are told apart by the provider's
 * `stream_id`: in each media frame (the gateway learns it from `start`) and in
 * every `streaming.*` webhook
 * (https://developers.telnyx.com/api-reference/callbacks/call-streaming-failed).
 * The platform tells a call's streams apart the same way (StreamlessCalls).
 */

/** Stream ids of one call remembered (oldest dropped beyond): a call gets a few streams, never many. */
const KNOWN_STREAMS = 16;
/** Longer ids are not the provider's (its are UUIDs); the platform bounds them the same. */
const STREAM_ID_MAX = 128;

/**
 * - `live`: the stream on the call's live socket failed (the call cannot trust its media path).
 * - `requested`: no socket, and not a stream that ever landed: may be the stream asked for, which did not connect.
 * - `other`: about an earlier stream, or any stream but the live one; changes nothing.
 */
export type FailureAbout = 'live' | 'requested' | 'other';

/** A webhook's `stream_id` as the gateway uses it; undefined when absent or not an id. */
export function streamIdOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= STREAM_ID_MAX ? value : undefined;
}

/** A webhook's `occurred_at` in epoch ms (the provider's clock); undefined when absent or unreadable. */
export function occurredAtMsOf(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

export class StreamIds {
  /** The stream on the live socket, once its `start` was read (null: no socket, or not read yet). */
  #current: string | null = null;
  /** Every stream seen start, by its `start` frame or the provider's `streaming.started`, oldest first. */
  readonly #known = new Set<string>();
  /** The latest `streaming.started`'s `occurred_at` (the provider's clock, as the failure's). */
  #latestStartedAtMs = Number.NEGATIVE_INFINITY;

  /** A media socket opened: its stream is not known until its `start` is read. */
  opened(): void {
    this.#current = null;
  }

  /** The live socket's `start` frame named its stream. */
  landed(streamId: string): void {
    const id = streamIdOf(streamId);
    if (id === undefined) return;
    this.#current = id;
    this.#remember(id);
  }

  /** The provider's `streaming.started` (perhaps late: it never makes a stream current). */
  reportedStarted(streamId: string | undefined, occurredAtMs: number | undefined): void {
    if (streamId !== undefined) this.#remember(streamId);
    if (occurredAtMs !== undefined) this.#latestStartedAtMs = Math.max(this.#latestStartedAtMs, occurredAtMs);
  }

  /**
   * Which stream a `streaming.failed` is about. With a live socket, only a
   * failure that names its stream counts: one naming another stream, or none
   * (the call's stream started, so a failure without a name cannot be told
   * from an old one), is not about it. Without a socket, a failure naming a
   * stream that landed is that stream's (already handled as a loss); one
   * naming none or a stream never seen may be the stream asked for. A failure
   * that occurred before a later stream started is old whatever it names.
   */
  failure(streamId: string | undefined, occurredAtMs: number | undefined, socketLive: boolean): FailureAbout {
    if (occurredAtMs !== undefined && occurredAtMs < this.#latestStartedAtMs) return 'other';
    if (socketLive) return streamId !== undefined && streamId === this.#current ? 'live' : 'other';
    return streamId !== undefined && this.#known.has(streamId) ? 'other' : 'requested';
  }

  #remember(id: string): void {
    this.#known.delete(id);
    this.#known.add(id);
    if (this.#known.size > KNOWN_STREAMS) this.#known.delete(this.#known.values().next().value as string);
  }
}
