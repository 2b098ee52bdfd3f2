/**
 * `ttma deployments export --out FILE` and `ttma deployments import FILE`: the operator API's
 * deployments export and import (docs/operations.md, "Back up"), without curl and jq. Run on the
 * platform's host: the platform at --platform-url (default http://127.0.0.1:8090, the shipped
 * unit's port), its admin token read from --admin-token-file (default
 * /etc/ttma-platform/admin-token, where the unit loads it from), never from a flag value.
 *
 * Import posts each record as exported, one at a time (the platform takes one per request) and
 * says of each: imported, skipped (its id or a number is registered already: an import never
 * overwrites) or refused (the platform's reason). Exit 0 when nothing was refused, 1 otherwise;
 * a platform that stops answering midway ends the run with what was done so far printed.
 */
import { ErrorCodes, TtmaError } from '../errors.js';
import { fetchBlockedUrlProblem } from '../wire/fetchBlockedPorts.js';
import { DEPLOYMENTS_EXPORT_PATH, DEPLOYMENTS_IMPORT_PATH } from '../wire/deploymentsExport.js';
import { parseArgs } from 'node:util';
import { readSecretFile } from './args.js';
import { DEPLOYMENTS_FLAGS } from './commandFlags.js';
import { readExportFile, writeExportFile } from './exportFile.js';

const DEFAULT_PLATFORM_URL = 'http://127.0.0.1:8090';
const DEFAULT_ADMIN_TOKEN_FILE = '/etc/ttma-platform/admin-token';
/** An export of thousands of deployments is a few MB; the platform answers from its store at once. */
const REQUEST_TIMEOUT_MS = 30_000;

interface Target {
  base: string;
  token: string;
  tokenFile: string;
}

interface Outcome {
  id: string;
  result: 'imported' | 'skipped' | 'refused';
  code?: string;
  message?: string;
  warnings?: unknown;
}

function usage(message: string): TtmaError {
  return new TtmaError(ErrorCodes.CLI_USAGE, `ttma deployments: ${message}. Run \`ttma deployments --help\` for usage.`, 2);
}

export async function runDeploymentsCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: DEPLOYMENTS_FLAGS, strict: true, allowPositionals: true });
  } catch (err) {
    throw usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [action, ...files] = positionals;
  if (action !== 'export' && action !== 'import') throw usage(`expected export or import, got ${action === undefined ? 'nothing' : `"${action}"`}`);
  if (action === 'export') {
    if (files.length > 0) throw usage(`export writes to --out FILE, not "${files[0]}"`);
    if (values.out === undefined || values.out === '') throw usage('export needs --out FILE');
    return exportTo(targetOf(values['platform-url'], values['admin-token-file']), values.out, values.force === true, values.json === true);
  }
  if (values.out !== undefined || values.force !== undefined) throw usage('--out and --force are export\'s');
  if (files.length !== 1) throw usage('import takes one FILE (as `ttma deployments export` wrote it)');
  return importFrom(targetOf(values['platform-url'], values['admin-token-file']), files[0]!, values.json === true);
}

function targetOf(url: string | undefined, tokenFile: string | undefined): Target {
  const base = (url ?? DEFAULT_PLATFORM_URL).replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    throw usage(`--platform-url "${url}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw usage(`--platform-url must be http:// or https://, got "${url}"`);
  const blocked = fetchBlockedUrlProblem(base);
  if (blocked) throw usage(`--platform-url: ${blocked}`);
  const file = tokenFile ?? DEFAULT_ADMIN_TOKEN_FILE;
  return { base, token: readSecretFile('--admin-token-file', file), tokenFile: file };
}

/** One request to the operator API: the parsed answer, or a typed error for an unreachable platform or a refused token. */
async function admin(t: Target, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  let res: Response;
  try {
    res = await fetch(`${t.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${t.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new TtmaError(ErrorCodes.PLATFORM, `cannot reach the platform at ${t.base} (${cause}): is it running, and is --platform-url its port?`, 1);
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  const answer = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : null;
  if (!answer) throw new TtmaError(ErrorCodes.PLATFORM, `${t.base}${path} answered HTTP ${res.status} without JSON: is --platform-url the platform?`, 1);
  const error = answer['error'] as { code?: string; message?: string } | undefined;
  if (res.status === 401) throw new TtmaError(ErrorCodes.AUTH, `the platform refused the admin token in ${t.tokenFile}: ${error?.message ?? 'HTTP 401'}`, 1);
  if (res.status === 503 && error?.code === ErrorCodes.CONFIG) throw new TtmaError(ErrorCodes.CONFIG, `the platform's operator API is off: ${error.message ?? ''}`, 1);
  return { status: res.status, body: answer };
}

async function exportTo(t: Target, out: string, overwrite: boolean, json: boolean): Promise<number> {
  const res = await admin(t, 'GET', DEPLOYMENTS_EXPORT_PATH);
  const deployments = res.body['deployments'];
  if (res.status !== 200 || !Array.isArray(deployments)) {
    throw new TtmaError(ErrorCodes.PLATFORM, `the export was refused: HTTP ${res.status} ${JSON.stringify(res.body['error'] ?? res.body).slice(0, 300)}`, 1);
  }
  await writeExportFile(out, `${JSON.stringify(res.body, null, 2)}\n`, overwrite);
  const summary = { file: out, deployments: deployments.length, exportedAt: res.body['exportedAt'] ?? null };
  process.stdout.write(json ? `${JSON.stringify(summary)}\n` : `exported ${deployments.length} deployment(s) to ${out} (0600; secret digests only, no secret)\n`);
  return 0;
}

async function importFrom(t: Target, file: string, json: boolean): Promise<number> {
  const exported = await readExportFile(file);
  const outcomes: Outcome[] = [];
  const report = (): number => {
    printImport(exported.deployments.length, outcomes, json);
    return outcomes.some((o) => o.result === 'refused') ? 1 : 0;
  };
  for (const [index, record] of exported.deployments.entries()) {
    const id = record && typeof record === 'object' && typeof (record as { id?: unknown }).id === 'string' ? (record as { id: string }).id : `#${index + 1}`;
    let res;
    try {
      res = await admin(t, 'POST', DEPLOYMENTS_IMPORT_PATH, record);
    } catch (err) {
      // Nothing done is lost from view: what was imported before the failure is printed first.
      report();
      throw err;
    }
    const error = res.body['error'] as { code?: string; message?: string } | undefined;
    if (res.status === 201) outcomes.push({ id, result: 'imported', ...(res.body['warnings'] ? { warnings: res.body['warnings'] } : {}) });
    else if (res.status === 409 && error?.code === ErrorCodes.CONFLICT) outcomes.push({ id, result: 'skipped', code: error.code, message: error.message ?? '' });
    else outcomes.push({ id, result: 'refused', code: error?.code ?? `HTTP ${res.status}`, message: error?.message ?? '' });
  }
  return report();
}

function printImport(total: number, outcomes: Outcome[], json: boolean): void {
  const count = (r: Outcome['result']) => outcomes.filter((o) => o.result === r).length;
  if (json) {
    process.stdout.write(`${JSON.stringify({ total, imported: count('imported'), skipped: count('skipped'), refused: count('refused'), deployments: outcomes })}\n`);
    return;
  }
  for (const o of outcomes) {
    if (o.result === 'imported') process.stdout.write(`imported ${o.id}${o.warnings ? ` (warnings: ${JSON.stringify(o.warnings)})` : ''}\n`);
    else if (o.result === 'skipped') process.stdout.write(`skipped  ${o.id}: already registered, not overwritten (${o.message})\n`);
    else process.stdout.write(`refused  ${o.id}: ${o.code}: ${o.message}\n`);
  }
  process.stdout.write(`${count('imported')} imported, ${count('skipped')} skipped, ${count('refused')} refused, of ${total} in the file${outcomes.length < total ? ` (${total - outcomes.length} not tried)` : ''}; restart every platform process after an import into a Redis that lost its data\n`);
}
