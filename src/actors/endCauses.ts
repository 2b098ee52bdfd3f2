/**
 * Why a call ended, as a bounded label (`ttma_calls_ended_total{cause}`, the
 * `cause` of the `call ended` log line); the free-text reason goes to the log.
 * One closed list, checked against docs/operations-metrics.md
 * (test/e2e/metricsDocs.test.ts).
 */
export const END_CAUSES = [
  'hangup',
  'agent',
  'streaming_failed',
  'media_closed',
  'media_abuse',
  'media_refused',
  'answer_failed',
  'no_media',
  'worker_failed',
  'minute_cap',
  'shutdown',
  'handover',
] as const;

export type EndCause = (typeof END_CAUSES)[number];
