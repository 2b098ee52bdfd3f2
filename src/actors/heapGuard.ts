/**
 * A media worker that owns its sockets must leave before V8's heap limit
 * ends the thread: that ending runs no JavaScript, so the sockets stay open
 * and this uWS build aborts the whole process (docs/threads.md). The worker
 * checks its heap every HEAP_GUARD_EVERY_MS and exits the way a crashing
 * worker does (sockets released, its calls moved to a live worker, a replacement started) once
 * it is past HEAP_GUARD_SHARE of its old-generation limit. A leak grows over
 * seconds; one allocation that jumps past the limit between checks is not
 * caught.
 */
export const HEAP_GUARD_SHARE = 0.85;
export const HEAP_GUARD_EVERY_MS = 200;

/** Why the worker must leave, or null: `usedBytes` of the heap against the thread's old-generation limit. */
export function heapOverGuard(usedBytes: number, limitMb: number | undefined): string | null {
  if (!limitMb || limitMb <= 0) return null;
  const limitBytes = limitMb * 1024 * 1024;
  if (usedBytes <= HEAP_GUARD_SHARE * limitBytes) return null;
  const mb = (bytes: number) => Math.round(bytes / 1048576);
  return `media worker heap at ${mb(usedBytes)} MB of its ${limitMb} MB limit: leaving before V8 ends the thread with its sockets open`;
}
