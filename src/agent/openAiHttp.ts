/**
 * OpenAI-compatible HTTP calls the agents make: chat completions streamed as
 * SSE (the OpenClaw gateway), speech to text, text to speech. One small
 * module so the openclaw adapter and realtime's consult_agent share it.
 * Uses fetch on the media worker: its first-use cost lands on the worker
 * (warmed in open()), never on the front's thread.
 */
import { ErrorCodes, redactSecrets, TtmaError } from '../errors.js';
import type { HttpEndpoint, OpenClawTarget } from './agentConfig.js';
import { parseJsonObject } from './agentJson.js';
import { PcmStream, wavFile } from './pcm.js';
import { RequestDeadline } from './requestDeadline.js';

/** OpenAI's `pcm` speech format: PCM16 little-endian, 24 kHz, mono. */
export const TTS_PCM_RATE = 24_000;
const MAX_SSE_LINE = 1 << 20;

/**
 * How long each request may go without progress before it is given up
 * (docs/agents.md, "An agent that stops answering"). Warm-up: the whole
 * request, 5 s as the ws and realtime adapters' open. Speech to text: the
 * whole request (a short JSON answer for a turn of at most 60 s). Chat: until
 * the answer begins and then between chunks (an agent that runs tools may
 * think a while; realtime's consult_agent allows 30 s in all). Speech: until
 * audio begins and between chunks (a few hundred ms when healthy).
 */
export interface AgentHttpDeadlines {
  warmMs: number;
  sttMs: number;
  chatIdleMs: number;
  ttsIdleMs: number;
}

export const AGENT_HTTP_DEADLINES: AgentHttpDeadlines = { warmMs: 5_000, sttMs: 15_000, chatIdleMs: 30_000, ttsIdleMs: 10_000 };

function url(endpoint: HttpEndpoint, path: string): string {
  return endpoint.baseUrl.replace(/\/+$/, '') + path;
}

function headers(endpoint: HttpEndpoint, extra: Record<string, string> = {}): Record<string, string> {
  return endpoint.token ? { authorization: `Bearer ${endpoint.token}`, ...extra } : extra;
}

/** An endpoint's refusal, quoting its body with the endpoint's token taken out (a server may echo it). */
async function refused(what: string, res: Response, endpoint: HttpEndpoint): Promise<TtmaError> {
  const body = (await res.text().catch(() => '')).slice(0, 200);
  return new TtmaError(ErrorCodes.AGENT_PROTOCOL, redactSecrets(`${what} answered ${res.status}${body ? `: ${body}` : ''}`, [endpoint.token]));
}

/** Opens a keep-alive connection (and loads fetch) before the call needs it; `signal` is the adapter's own (its close). */
export async function warm(endpoint: HttpEndpoint, signal?: AbortSignal, timeoutMs = AGENT_HTTP_DEADLINES.warmMs): Promise<void> {
  const deadline = new RequestDeadline(`agent endpoint ${endpoint.baseUrl}`, timeoutMs, signal);
  try {
    const res = await fetch(url(endpoint, '/v1/models'), { headers: headers(endpoint), signal: deadline.signal });
    await res.arrayBuffer();
  } catch (cause) {
    const failure = deadline.failure(cause);
    const reason = failure === cause ? `unreachable: ${(cause as Error).message}` : `did not answer its warm-up within ${timeoutMs} ms`;
    throw new TtmaError(ErrorCodes.AGENT_CONNECT, redactSecrets(`agent endpoint ${endpoint.baseUrl} ${reason}`, [endpoint.token]), 502, { cause });
  } finally {
    deadline.done();
  }
}

/**
 * Streams a chat completion from the OpenClaw gateway: `model:
 * "openclaw/<agentId>"`, a stable session key as `user` (and the
 * x-openclaw-session-key header), only the new user turn (the gateway keeps
 * the session's history). Yields text deltas as they arrive.
 */
export async function* streamChat(
  target: OpenClawTarget,
  sessionKey: string,
  text: string,
  signal: AbortSignal,
  idleMs = AGENT_HTTP_DEADLINES.chatIdleMs,
): AsyncGenerator<string> {
  const deadline = new RequestDeadline('chat completions', idleMs, signal);
  try {
    const res = await fetch(url(target, '/v1/chat/completions'), {
      method: 'POST',
      signal: deadline.signal,
      headers: headers(target, { 'content-type': 'application/json', accept: 'text/event-stream', 'x-openclaw-session-key': sessionKey }),
      body: JSON.stringify({
        model: `openclaw/${target.agentId}`,
        stream: true,
        user: sessionKey,
        messages: [{ role: 'user', content: text }],
      }),
    });
    if (!res.ok || !res.body) throw await refused('chat completions', res, target);
    const decoder = new TextDecoder();
    let pending = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      deadline.touch();
      pending += decoder.decode(chunk, { stream: true });
      if (pending.length > MAX_SSE_LINE) throw new TtmaError(ErrorCodes.AGENT_PROTOCOL, 'chat completions: SSE line too long');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).replace(/\r$/, '');
        pending = pending.slice(nl + 1);
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return;
        // A line that is not a JSON object (broken, or `null`) is skipped like a comment.
        const parsed = parseJsonObject(data) as { choices?: Array<{ delta?: { content?: unknown } } | null> } | null;
        if (parsed === null) continue;
        const content = parsed.choices?.[0]?.delta?.content;
        if (typeof content === 'string' && content) yield content;
      }
    }
  } catch (err) {
    throw deadline.failure(err);
  } finally {
    deadline.done();
  }
}

/** The whole reply, for consult_agent. */
export async function chatOnce(target: OpenClawTarget, sessionKey: string, text: string, signal: AbortSignal): Promise<string> {
  let reply = '';
  for await (const delta of streamChat(target, sessionKey, text, signal)) reply += delta;
  return reply;
}

/** POST /v1/audio/transcriptions with a WAV of the caller's turn; returns the text. */
export async function transcribe(
  endpoint: HttpEndpoint & { model: string },
  pcm: Int16Array,
  rate: number,
  signal: AbortSignal,
  timeoutMs = AGENT_HTTP_DEADLINES.sttMs,
): Promise<string> {
  const form = new FormData();
  form.append('model', endpoint.model);
  form.append('response_format', 'json');
  form.append('file', new Blob([wavFile(pcm, rate)], { type: 'audio/wav' }), 'turn.wav');
  const deadline = new RequestDeadline('speech to text', timeoutMs, signal);
  try {
    const res = await fetch(url(endpoint, '/v1/audio/transcriptions'), { method: 'POST', signal: deadline.signal, headers: headers(endpoint), body: form });
    if (!res.ok) throw await refused('speech to text', res, endpoint);
    const body = (await res.json()) as { text?: unknown } | null;
    return typeof body?.text === 'string' ? body.text.trim() : '';
  } catch (err) {
    throw deadline.failure(err);
  } finally {
    deadline.done();
  }
}

/** POST /v1/audio/speech (format pcm: 24 kHz PCM16); audio chunks are handed on as they stream in. */
export async function synthesize(
  endpoint: HttpEndpoint & { model: string; voice: string },
  text: string,
  signal: AbortSignal,
  onAudio: (pcm: Int16Array) => void,
  idleMs = AGENT_HTTP_DEADLINES.ttsIdleMs,
): Promise<void> {
  const deadline = new RequestDeadline('text to speech', idleMs, signal);
  try {
    const res = await fetch(url(endpoint, '/v1/audio/speech'), {
      method: 'POST',
      signal: deadline.signal,
      headers: headers(endpoint, { 'content-type': 'application/json' }),
      body: JSON.stringify({ model: endpoint.model, voice: endpoint.voice, input: text, response_format: 'pcm' }),
    });
    if (!res.ok || !res.body) throw await refused('text to speech', res, endpoint);
    const stream = new PcmStream();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      deadline.touch();
      const pcm = stream.push(chunk);
      if (pcm.length > 0) onAudio(pcm);
    }
  } catch (err) {
    throw deadline.failure(err);
  } finally {
    deadline.done();
  }
}
