/**
 * How messages cross the thread boundary: control messages are msgpackr-
 * encoded records, media travels as transferred MediaBatch buffers.
 * A posted value is `{ c: Uint8Array }` (control) or `{ m: ArrayBuffer }` (media).
 */
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, moreTypes: false });

export interface PostedControl {
  c: Uint8Array;
}
export interface PostedMedia {
  m: ArrayBuffer;
}
export type Posted = PostedControl | PostedMedia;

export function encodeControl(message: unknown): PostedControl {
  return { c: packr.pack(message) };
}

export function decodeControl<T>(posted: PostedControl): T {
  return packr.unpack(posted.c) as T;
}

export function isMedia(posted: Posted): posted is PostedMedia {
  return (posted as PostedMedia).m !== undefined;
}
