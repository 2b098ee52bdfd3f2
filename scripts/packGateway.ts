/**
 * Builds a self-contained gateway release bundle for this machine's
 * platform, CPU and Node ABI, and prints its SHA-256:
 *
 *   npm run build && node dist/scripts/packGateway.js [--out dist/bundles/gateway.tar.gz]
 *
 * Inside: the compiled dist/src, a trimmed package.json, the production
 * dependencies copied from node_modules (nothing is downloaded), the native
 * media addon, the systemd unit templates, and ttma-bundle.json (version, git
 * commit, target, every file's size and SHA-256), which the installer checks
 * against the machine and the archive (src/installer/bundleManifest.ts).
 *
 * Deterministic: files sorted, fixed mtime, owner 0:0, modes 0644/0755, gzip
 * without a name or time; so two builds of one commit on one machine give
 * the same bytes. Progress goes to stderr; stdout gets "<sha256>  <file>".
 * The platform serves the file (`ttma platform --gateway-bundle FILE`) and
 * puts its digest into every install token.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { BUNDLE_MANIFEST_FORMAT, BUNDLE_MANIFEST_PATH, currentTarget, describeTarget, type BundleTarget, type GatewayBundleManifest } from '../src/installer/bundleManifest.js';
import { GATEWAY_LIMITS } from '../src/installer/archiveScan.js';
import { gatewayFiles, PackError } from './gatewayFiles.js';
import { tarFiles, type TarFile } from './tarWriter.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXED_MTIME = new Date('2025-01-01T00:00:00Z');

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * HEAD's commit and whether tracked files differ from it; null unless `root` is
 * itself the top of a git checkout: git looks upwards, so a checkout without
 * .git inside another repository (a home kept in git) would name that one's.
 */
function gitState(root: string): { commit: string | null; dirty: boolean; unreadable?: string } {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    if (realpathSync(git('rev-parse', '--show-toplevel')) !== realpathSync(root)) return { commit: null, dirty: false };
    return { commit: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain', '--untracked-files=no') !== '' };
  } catch (err) {
    // A checkout git refuses (owned by another user: "dubious ownership") or cannot read: said, not silently "no commit".
    if (!existsSync(join(root, '.git'))) return { commit: null, dirty: false };
    const said = String((err as { stderr?: unknown }).stderr ?? (err as Error).message).trim().split('\n')[0] ?? '';
    return { commit: null, dirty: false, unreadable: said || String(err) };
  }
}

export interface PackedGateway {
  bytes: Buffer;
  sha256: string;
  manifest: GatewayBundleManifest;
}

/** The bundle of the checkout at `root`, for `target` (this machine; the native code in node_modules is this machine's). */
export async function packGateway(
  root = ROOT,
  progress: (line: string) => void = () => undefined,
  target: BundleTarget = currentTarget(),
): Promise<PackedGateway> {
  const { files, name, version } = await gatewayFiles(root, target, progress);
  const { commit, dirty, unreadable } = gitState(root);
  if (unreadable !== undefined) progress(`WARNING: ${root} is a git checkout that git could not read (${unreadable}); ${BUNDLE_MANIFEST_PATH} names no commit`);
  const manifest: GatewayBundleManifest = {
    format: BUNDLE_MANIFEST_FORMAT,
    name,
    version,
    commit,
    dirty,
    target,
    files: files.map((f) => ({ path: f.path, size: f.content.length, sha256: sha256(f.content) })),
  };
  const manifestFile: TarFile = { path: BUNDLE_MANIFEST_PATH, content: Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`), executable: false };
  // The manifest first: a reader finds what the bundle is without going through it all.
  const entries = [manifestFile, ...files];
  if (entries.length > GATEWAY_LIMITS.maxEntries) throw new PackError(`${entries.length} files: more than the installer's ${GATEWAY_LIMITS.maxEntries}`);
  const tar = tarFiles(entries, FIXED_MTIME);
  if (tar.length > GATEWAY_LIMITS.maxTarBytes) throw new PackError(`${tar.length} bytes unpacked: more than the installer's ${GATEWAY_LIMITS.maxTarBytes}`);
  progress(`${entries.length} files, ${(tar.length / 1e6).toFixed(1)} MB; compressing`);
  // zlib's gzip header carries no file name and a zero mtime, so the bytes depend on the content only.
  const bytes = gzipSync(tar, { level: 9 });
  return { bytes, sha256: sha256(bytes), manifest };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string' } }, strict: true });
  const out = resolve(values.out ?? join(ROOT, 'dist', 'bundles', 'gateway.tar.gz'));
  const started = Date.now();
  const progress = (line: string) => process.stderr.write(`packGateway: ${line}\n`);
  const target = currentTarget();
  progress(`packing ${relative(process.cwd(), ROOT) || '.'} for ${describeTarget(target)}`);
  const { bytes, sha256: digest, manifest } = await packGateway(ROOT, progress, target);
  if (manifest.dirty) progress(`WARNING: the checkout has uncommitted changes; ${BUNDLE_MANIFEST_PATH} names commit ${manifest.commit} with "dirty": true`);
  await mkdir(dirname(out), { recursive: true });
  // Written beside and renamed: a platform reading the path never sees half a bundle.
  await writeFile(`${out}.partial`, bytes);
  await rename(`${out}.partial`, out);
  await writeFile(`${out}.sha256`, `${digest}  ${relative(dirname(out), out)}\n`);
  if (sha256(await readFile(out)) !== digest) throw new Error('digest changed on disk');
  progress(`${manifest.name} ${manifest.version} (${manifest.commit?.slice(0, 12) ?? 'no git commit'}), ${(bytes.length / 1e6).toFixed(1)} MB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.stdout.write(`${digest}  ${out}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: Error) => {
    process.stderr.write(`packGateway: ${err.message}\n`);
    process.exit(err instanceof PackError ? 2 : 1);
  });
}
