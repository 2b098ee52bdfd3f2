/**
 * The deployments export file of `ttma deployments`: written whole or not at all (a temporary
 * file in the same directory, 0600, synced, then put in place), never over an existing file
 * unless asked (`link` fails with EEXIST where `rename` would replace: no check-then-write race),
 * and read back with every problem named: missing, not JSON, not an export, another version.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ErrorCodes, TtmaError } from '../errors.js';
import { DEPLOYMENTS_EXPORT_VERSION } from '../wire/deploymentsExport.js';

export interface ExportFile {
  version: number;
  exportedAt: string | null;
  deployments: unknown[];
}

function fileError(path: string, why: string): TtmaError {
  return new TtmaError(ErrorCodes.EXPORT_FILE, `${path}: ${why}`, 2);
}

/** Writes `text` to `path` (0600). Refuses an existing file unless `overwrite`. */
export async function writeExportFile(path: string, text: string, overwrite: boolean): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle;
  try {
    handle = await open(tmp, 'wx', 0o600);
  } catch (err) {
    throw fileError(path, `cannot write in its directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    await handle.writeFile(text);
    // On disk before it takes the name: a crash leaves the old file or the whole new one.
    await handle.sync();
    await handle.close();
    handle = null;
    if (overwrite) await rename(tmp, path);
    else await link(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw fileError(path, 'already exists: not overwritten (--force replaces it)');
    throw fileError(path, `cannot be written (${code ?? (err as Error).message})`);
  } finally {
    await handle?.close().catch(() => undefined);
    // After a rename the temporary name is gone already; after a link, or a failure, it is removed.
    await unlink(tmp).catch(() => undefined);
  }
}

/** The export in `path`, its shape checked (each record is the platform's to judge). */
export async function readExportFile(path: string): Promise<ExportFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw fileError(path, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw fileError(path, `not JSON (${(err as Error).message})`);
  }
  const o = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  if (!o || !Array.isArray(o['deployments'])) {
    throw fileError(path, 'not a deployments export: expected {"version","exportedAt","deployments":[…]} as `ttma deployments export` writes it');
  }
  if (o['version'] !== DEPLOYMENTS_EXPORT_VERSION) {
    throw fileError(path, `export format version ${JSON.stringify(o['version'])}: this ttma reads version ${DEPLOYMENTS_EXPORT_VERSION} only`);
  }
  return { version: DEPLOYMENTS_EXPORT_VERSION, exportedAt: typeof o['exportedAt'] === 'string' ? o['exportedAt'] : null, deployments: o['deployments'] };
}
