/**
 * Why a media WebSocket upgrade was refused: the `reason` label of
 * `ttma_media_upgrades_refused_total` and the log's `reason`. One closed list,
 * so the label stays bounded and docs/operations-metrics.md can be checked
 * against it (test/e2e/metricsDocs.test.ts).
 */
export const MEDIA_REFUSAL_REASONS = [
  // The one-time token (MediaTokenStore).
  'missing',
  'unknown',
  'expired',
  'wrong_call',
  // The call (ControlActor.authorizeMedia): none live, or its worker is gone.
  'no_live_call',
  'no_worker',
  // The request itself, or the main thread did not answer a worker's question in time.
  'bad_call_id',
  'unavailable',
] as const;

export type MediaRefusalReason = (typeof MEDIA_REFUSAL_REASONS)[number];
