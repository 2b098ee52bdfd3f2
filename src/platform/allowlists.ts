/**
 * What a gateway may ask for (FAQ-13): media only to its own registered
 * tunnel host, on the one media path of the call in question; tokens and
 * codecs of known shape. Each check answers with the reason, never echoing
 * the input: TTMA_ERR_STREAM_SCHEME (not wss://), TTMA_ERR_STREAM_HOST (not
 * exactly the registered tunnel host), TTMA_ERR_STREAM_URL (any other shape
 * problem), or the codec/bad-request code.
 *
 * The stream URL is checked twice over: component by component with the URL
 * parser (for a precise reason), then as the exact string we would have
 * built ourselves, because the parser forgives things (default ports, dot
 * segments, tabs, backslashes, upper case) that a provider might not.
 */
import { ErrorCodes, TtmaError, type ErrorCode } from '../errors.js';

/** Provider call ids (Telnyx: `v3:...`): no `/`, `%`, `?`, `#` or spaces. */
export const CALL_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_:.-]{0,127}$/;
/** The id an outbound call's media path carries, chosen by the gateway. */
export const CLIENT_MEDIA_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
/** One-time media token: base64url, 32 to 128 characters. */
export const STREAM_TOKEN_PATTERN = /^[A-Za-z0-9_-]{32,128}$/;
export const ALLOWED_CODECS = ['PCMU', 'PCMA', 'L16', 'G722', 'OPUS'] as const;
export type AllowedCodec = (typeof ALLOWED_CODECS)[number];
export const DEFAULT_CODEC: AllowedCodec = 'PCMU';

const MEDIA_PATH_PREFIX = '/v1/media/';
const MAX_STREAM_URL_LENGTH = 2048;
/** Printable ASCII without spaces; no backslash (parsers read it as "/"). */
const PLAIN_URL_CHARS = /^[\x21-\x5b\x5d-\x7e]+$/;

function refuse(reason: string, code: ErrorCode = ErrorCodes.STREAM_URL): never {
  throw new TtmaError(code, `stream_url refused: ${reason}`, 400);
}

/** Component checks shared by answer and dial, each with its own reason. */
function checkComponents(raw: unknown, tunnelHost: string): void {
  if (typeof raw !== 'string' || raw.length === 0) refuse('stream_url is required');
  if (raw.length > MAX_STREAM_URL_LENGTH) refuse('too long');
  if (!PLAIN_URL_CHARS.test(raw)) refuse('only printable ASCII without spaces or backslashes is allowed');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    refuse('not a valid URL');
  }
  if (url.protocol !== 'wss:' || !raw.startsWith('wss://')) refuse('must use wss://', ErrorCodes.STREAM_SCHEME);
  const authority = raw.slice('wss://'.length).split(/[/?#]/, 1)[0] ?? '';
  if (url.username || url.password || authority.includes('@')) refuse('must not carry userinfo');
  if (url.port || authority.includes(':')) refuse('must not name a port');
  if (url.search || url.hash || raw.includes('?') || raw.includes('#')) refuse('must not carry a query or a fragment');
  if (url.hostname !== tunnelHost || authority !== tunnelHost) {
    refuse("host must be the deployment's registered tunnel host", ErrorCodes.STREAM_HOST);
  }
}

/**
 * Inbound answer: exactly `wss://<tunnelHost>/v1/media/<callId>` (the call id
 * raw or percent-encoded as encodeURIComponent writes it). Returns the URL
 * to hand to the provider.
 */
export function checkAnswerStreamUrl(raw: unknown, tunnelHost: string, callId: string): string {
  checkComponents(raw, tunnelHost);
  const allowed = new Set([
    `wss://${tunnelHost}${MEDIA_PATH_PREFIX}${callId}`,
    `wss://${tunnelHost}${MEDIA_PATH_PREFIX}${encodeURIComponent(callId)}`,
  ]);
  if (!allowed.has(raw as string)) refuse('path must be exactly /v1/media/<this call id>');
  return raw as string;
}

/** Outbound dial: exactly `wss://<tunnelHost>/v1/media/<id>`, id of CLIENT_MEDIA_ID_PATTERN. */
export function checkDialStreamUrl(raw: unknown, tunnelHost: string): { streamUrl: string; mediaId: string } {
  checkComponents(raw, tunnelHost);
  const prefix = `wss://${tunnelHost}${MEDIA_PATH_PREFIX}`;
  const text = raw as string;
  const mediaId = text.startsWith(prefix) ? text.slice(prefix.length) : '';
  if (!CLIENT_MEDIA_ID_PATTERN.test(mediaId)) {
    refuse('path must be exactly /v1/media/<id>, the id 8 to 64 characters of A-Z, a-z, 0-9, "_" and "-"');
  }
  return { streamUrl: text, mediaId };
}

export function checkStreamToken(raw: unknown): string {
  if (typeof raw !== 'string' || !STREAM_TOKEN_PATTERN.test(raw)) {
    throw new TtmaError(
      ErrorCodes.BAD_REQUEST,
      'stream_auth_token is required: 32 to 128 characters of base64url (A-Z, a-z, 0-9, "_", "-")',
      400,
    );
  }
  return raw;
}

export function checkCodec(raw: unknown): AllowedCodec {
  if (raw === undefined || raw === null) return DEFAULT_CODEC;
  if (typeof raw === 'string' && (ALLOWED_CODECS as readonly string[]).includes(raw)) return raw as AllowedCodec;
  throw new TtmaError(ErrorCodes.CODEC_UNSUPPORTED, `codec must be one of ${ALLOWED_CODECS.join(', ')}`, 400);
}

/**
 * Destinations an agent may dial or transfer to (FAQ-13): E.164, and not a
 * premium-rate range (+1 900, +1 976, UK +44 9), where one runaway call
 * costs real money. A floor under every deployment's dialling policy, `+`
 * and a named `+1900` included: no agent has a reason to call them.
 */
export const DENIED_DESTINATION_PREFIXES = ['+1900', '+1976', '+449'] as const;
/**
 * NANP's other pay-per-call range is not an area code but an exchange: 976
 * after any area code (+1 NPA 976 XXXX), billed to the caller by the local
 * carrier (NANPA reserves 976 as a central office code for information
 * services in every NPA). A prefix list cannot say "any NPA", so a pattern.
 */
const NANP_PAY_PER_CALL_EXCHANGE = /^\+1[2-9]\d{2}976\d{4}$/;
const DESTINATION_PATTERN = /^\+[1-9]\d{6,14}$/;

export function checkDestination(raw: unknown): string {
  if (typeof raw !== 'string' || !DESTINATION_PATTERN.test(raw)) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, 'to must be an E.164 number ("+" then 7 to 15 digits)', 400);
  }
  if (DENIED_DESTINATION_PREFIXES.some((p) => raw.startsWith(p)) || NANP_PAY_PER_CALL_EXCHANGE.test(raw)) {
    throw new TtmaError(ErrorCodes.DESTINATION_REFUSED, 'destination refused by the dialling policy (premium-rate range)', 403);
  }
  return raw;
}

export function checkDigits(raw: unknown): string {
  if (typeof raw !== 'string' || !/^[0-9*#A-D]{1,64}$/.test(raw)) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, 'digits must be 1 to 64 of 0-9, *, #, A-D', 400);
  }
  return raw;
}
