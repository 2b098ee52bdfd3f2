/**
 * How much agent audio all the calls on one media worker may hold queued
 * toward the phone together (docs/threads.md, "A worker-wide bound on queued
 * agent audio"). A buffered agent may queue up to 2 MiB of frame text a call
 * (CallActor), about 1.8 MB of heap for PCMU: at that, 244 calls filled a
 * 512 MiB worker to its heap guard (85 %, heapGuard.ts), which ends the
 * worker and moves every call on it. A quarter of the heap limit keeps the
 * queued audio well under the guard with the rest of the worker's heap
 * (a call's own state is about 11 KiB: 11 MB at 1,000 calls) and the
 * collector's working room beside it.
 */
import { getHeapStatistics } from 'node:v8';
import { SharedQueueBudget } from '../media/SharedQueueBudget.js';

/** Share of the worker's heap limit that queued agent audio may hold. */
export const AGENT_AUDIO_HEAP_SHARE = 0.25;
/**
 * Heap a queued frame takes besides its text's characters (one byte each:
 * the text is base64 in JSON): the string's header and its slot in the
 * queue's ring. Measured: 52 to 56 bytes a frame for texts of 68 to 896
 * characters, 6,000 frames a queue.
 */
export const QUEUED_FRAME_OVERHEAD_BYTES = 64;

/** The bound for a thread whose old-generation heap limit is `heapLimitMb` MiB. */
export function agentAudioBudgetBytes(heapLimitMb: number): number {
  return Math.floor(heapLimitMb * 1024 * 1024 * AGENT_AUDIO_HEAP_SHARE);
}

/**
 * The budget for this thread: from the worker's `resourceLimits` when it has
 * one (WorkerHost sets it), otherwise from V8's own limit for this heap.
 */
export function agentAudioBudgetFor(maxOldGenerationSizeMb: number | undefined): SharedQueueBudget {
  const heapLimitMb = maxOldGenerationSizeMb && maxOldGenerationSizeMb > 0 ? maxOldGenerationSizeMb : getHeapStatistics().heap_size_limit / (1024 * 1024);
  return new SharedQueueBudget(agentAudioBudgetBytes(heapLimitMb), QUEUED_FRAME_OVERHEAD_BYTES);
}
