/**
 * Refusal codes the platform needs that src/errors.ts does not list yet.
 * TtmaError takes an ErrorCode; until the lead adds these to ErrorCodes,
 * they are widened here in one place so the rest of the platform throws
 * TtmaError as everywhere else.
 */
import { type ErrorCode } from '../errors.js';

export const PlatformCodes = {
  RATE_LIMITED: 'TTMA_ERR_RATE_LIMITED' as string as ErrorCode,
  BAD_REQUEST: 'TTMA_ERR_BAD_REQUEST' as string as ErrorCode,
  NOT_FOUND: 'TTMA_ERR_NOT_FOUND' as string as ErrorCode,
  METHOD_NOT_ALLOWED: 'TTMA_ERR_METHOD_NOT_ALLOWED' as string as ErrorCode,
  CONFLICT: 'TTMA_ERR_CONFLICT' as string as ErrorCode,
  REQUEST_TIMEOUT: 'TTMA_ERR_REQUEST_TIMEOUT' as string as ErrorCode,
} as const;
