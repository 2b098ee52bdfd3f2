/**
 * Reads a `--config` file: JSON, or YAML for a `.yaml`/`.yml` name. Small
 * and a regular file; the text is never echoed in an error (a secret pasted
 * into it by mistake must not reach a log).
 */
import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ErrorCodes, TtmaError } from '../errors.js';

/** A configuration file is a page of settings; a larger one is a mistake. */
export const MAX_CONFIG_BYTES = 64 * 1024;

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    const info = statSync(path);
    if (!info.isFile()) throw new Error('not a regular file');
    if (info.size > MAX_CONFIG_BYTES) throw new Error(`larger than ${MAX_CONFIG_BYTES} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw configError(`--config ${path}: cannot read: ${messageOf(cause)}`, cause);
  }
  const yaml = /\.ya?ml$/i.test(path);
  let parsed: unknown;
  try {
    // YAML: plain data only (no custom tags, no merge keys), and a bounded alias expansion.
    parsed = yaml ? parseYaml(text, { schema: 'core', merge: false, maxAliasCount: 100, prettyErrors: false }) : JSON.parse(text);
  } catch (cause) {
    // The parser's own message may quote the line it stopped at; say only where.
    throw configError(`--config ${path}: not valid ${yaml ? 'YAML' : 'JSON'}${positionOf(cause, text)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw configError(`--config ${path}: must hold one ${yaml ? 'mapping' : 'JSON object'} of settings`);
  }
  return parsed as Record<string, unknown>;
}

/** Line and column of a parse error, from the offset both parsers report. */
function positionOf(cause: unknown, text: string): string {
  const yamlOffset = (cause as { pos?: [number, number] }).pos?.[0];
  const jsonOffset = /position (\d+)/.exec(messageOf(cause))?.[1];
  const offset = yamlOffset ?? (jsonOffset === undefined ? undefined : Number(jsonOffset));
  if (offset === undefined) return '';
  const before = text.slice(0, offset).split('\n');
  return ` (line ${before.length}, column ${before[before.length - 1]!.length + 1})`;
}

function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message.replace(/^[A-Z]+: /, '') : String(cause);
}

export function configError(message: string, cause?: unknown): TtmaError {
  return new TtmaError(ErrorCodes.CONFIG, message, 2, cause === undefined ? undefined : { cause });
}
