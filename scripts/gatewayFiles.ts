/**
 * Which files go into a gateway release bundle, read from a built checkout
 * (scripts/packGateway.ts packs them):
 *
 * - dist/src: the compiled JavaScript of every src/*.ts (no source maps, no
 *   tests, benches or scripts; no output left over from a deleted source);
 * - package.json, cut down to what running needs ("type": "module" above all);
 * - the native media addon and native/binding.gyp, the marker
 *   src/media/native.ts looks for on its walk up to the root;
 * - systemd/ (renderUnits.ts reads the unit templates from there);
 * - the production dependencies as package-lock.json lists them (no "dev"
 *   flag), copied from node_modules, without each package's nested
 *   node_modules (those are lock entries of their own). uWebSockets.js ships
 *   a binary per platform and Node ABI, loaded by the name
 *   uws_<platform>_<arch>_<abi>.node: only this machine's is kept. A
 *   package built from source at `npm ci` keeps its addon (`*.node`) but not
 *   the rest of node-gyp's build directory (config.gypi, Makefiles, object
 *   files, .deps): nothing loads them, and they name the checkout's path and
 *   the builder's tools, so two checkouts of one commit would differ.
 *
 * Nothing is fetched: what is not in the checkout is an error that says
 * which command builds it.
 */
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import type { BundleTarget } from '../src/installer/bundleManifest.js';
import type { TarFile } from './tarWriter.js';

/** What a user must run first; the message names it. */
export class PackError extends Error {
  override readonly name = 'PackError';
}

const ADDON = 'native/build/Release/ttma_media.node';
const UWS_BINARY = /^uws_([a-z0-9]+)_([a-z0-9]+)_(\d+)\.node$/;
/** The package.json keys an installed gateway reads (ttma.ts its version; Node its "type"). */
const PACKAGE_KEYS = ['name', 'version', 'description', 'type', 'license', 'private', 'bin', 'engines', 'dependencies', 'optionalDependencies'] as const;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function walk(dir: string, skip: (rel: string, isDir: boolean) => boolean, root = dir, out: string[] = []): Promise<string[]> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    const rel = relative(root, full).split(sep).join('/');
    if (skip(rel, entry.isDirectory())) continue;
    if (entry.isDirectory()) await walk(full, skip, root, out);
    else if (entry.isFile()) out.push(full);
    else throw new PackError(`${full} is a ${entry.isSymbolicLink() ? 'symbolic link' : 'special file'}: only plain files go into a bundle (the installer refuses anything else)`);
  }
  return out;
}

async function fileOf(root: string, full: string, path = relative(root, full).split(sep).join('/')): Promise<TarFile> {
  const [content, stats] = await Promise.all([readFile(full), lstat(full)]);
  return { path, content, executable: (stats.mode & 0o100) !== 0 };
}

/** dist/src/X.js for every src/X.ts, each at least as new as its source. */
async function compiledSources(root: string): Promise<TarFile[]> {
  if (!(await exists(join(root, 'dist/src/cli/ttma.js')))) {
    throw new PackError('dist/src/cli/ttma.js is missing: the gateway is not built yet; run npm run build first');
  }
  const sources = await walk(join(root, 'src'), (rel, isDir) => !isDir && !rel.endsWith('.ts'));
  const files: TarFile[] = [];
  for (const source of sources) {
    const rel = relative(root, source).split(sep).join('/');
    const compiled = join(root, 'dist', rel.replace(/\.ts$/, '.js'));
    const [src, out] = await Promise.all([stat(source), stat(compiled).catch(() => null)]);
    if (!out || out.mtimeMs < src.mtimeMs) throw new PackError(`dist is older than ${rel}: run npm run build first`);
    files.push(await fileOf(root, compiled));
  }
  return files;
}

/** package.json with only the keys an installed copy reads: no scripts (nothing runs npm there), no dev dependencies. */
async function trimmedPackageJson(root: string): Promise<{ file: TarFile; pkg: { name: string; version: string } }> {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const kept = Object.fromEntries(PACKAGE_KEYS.filter((k) => pkg[k] !== undefined).map((k) => [k, pkg[k]]));
  return {
    file: { path: 'package.json', content: Buffer.from(`${JSON.stringify(kept, null, 2)}\n`), executable: false },
    pkg: kept as { name: string; version: string },
  };
}

async function nativeAddon(root: string): Promise<TarFile[]> {
  const addon = join(root, ADDON);
  const addonStat = await stat(addon).catch(() => null);
  if (!addonStat) throw new PackError(`${ADDON} is missing: the native media addon is not built; run npm run build:native first`);
  // The rule of scripts/buildNative.mjs --if-stale: older than a source means stale.
  const nativeSources = [join(root, 'native/binding.gyp'), ...(await walk(join(root, 'native/src'), () => false))];
  for (const source of nativeSources) {
    if ((await stat(source)).mtimeMs > addonStat.mtimeMs) throw new PackError(`${ADDON} is older than ${relative(root, source)}: run npm run build:native first`);
  }
  return [await fileOf(root, join(root, 'native/binding.gyp')), await fileOf(root, addon)];
}

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  link?: boolean;
}

/** The production packages' directories (relative, e.g. node_modules/zod), from package-lock.json. */
async function productionPackages(root: string): Promise<string[]> {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as { lockfileVersion?: number; packages?: Record<string, LockEntry> };
  if (!lock.packages || (lock.lockfileVersion ?? 0) < 2) throw new PackError('package-lock.json has no "packages" map (lockfileVersion 2 or 3 needed)');
  const dirs: string[] = [];
  for (const [dir, entry] of Object.entries(lock.packages)) {
    if (dir === '' || entry.dev) continue;
    if (entry.link) throw new PackError(`${dir} is a linked package: a bundle holds copies only`);
    const manifest = await readFile(join(root, dir, 'package.json'), 'utf8').catch(() => null);
    if (manifest === null) {
      if (entry.optional) continue; // an optional dependency for another platform, not installed here
      throw new PackError(`${dir} is missing: node_modules does not match package-lock.json; run npm ci first`);
    }
    const installed = (JSON.parse(manifest) as { version?: string }).version;
    if (entry.version !== undefined && installed !== entry.version) {
      throw new PackError(`${dir} is ${installed}, package-lock.json says ${entry.version}: run npm ci first`);
    }
    dirs.push(dir);
  }
  return dirs;
}

/**
 * node-gyp's build directory is the one its configure step writes
 * config.gypi into (https://github.com/nodejs/node-gyp/blob/main/lib/configure.js);
 * node-pre-gyp's build-tmp-* directories are made the same way. Only the
 * addon in it loads.
 */
function buildLeftovers(files: string[]): Set<string> {
  const buildDirs = files.filter((f) => basename(f) === 'config.gypi').map((f) => `${dirname(f)}${sep}`);
  return new Set(files.filter((f) => !f.endsWith('.node') && buildDirs.some((d) => f.startsWith(d))));
}

/** A uWebSockets.js binary for another platform or Node ABI: never loaded here. */
function foreignUwsBinary(rel: string, target: BundleTarget): boolean {
  const match = UWS_BINARY.exec(rel.slice(rel.lastIndexOf('/') + 1));
  return match !== null && `${match[1]}_${match[2]}_${match[3]}` !== `${target.platform}_${target.arch}_${target.nodeAbi}`;
}

async function dependencies(root: string, target: BundleTarget, progress: (line: string) => void): Promise<TarFile[]> {
  const dirs = await productionPackages(root);
  progress(`${dirs.length} production packages from package-lock.json`);
  const files: TarFile[] = [];
  let skipped = 0;
  let leftovers = 0;
  for (const dir of dirs) {
    const skip = (rel: string, isDir: boolean): boolean => {
      if (isDir) return rel === 'node_modules' || rel.endsWith('/node_modules');
      if (!foreignUwsBinary(rel, target)) return false;
      skipped += 1;
      return true;
    };
    const found = await walk(join(root, dir), skip);
    const left = buildLeftovers(found);
    leftovers += left.size;
    for (const full of found) if (!left.has(full)) files.push(await fileOf(root, full));
  }
  progress(`${files.length} dependency files; left out ${skipped} uWebSockets.js binaries for other platforms or Node versions and ${leftovers} node-gyp build files`);
  return files;
}

export interface GatewayFiles {
  files: TarFile[];
  name: string;
  version: string;
}

/** Every file of the bundle but its manifest, sorted by path. */
export async function gatewayFiles(root: string, target: BundleTarget, progress: (line: string) => void): Promise<GatewayFiles> {
  const compiled = await compiledSources(root);
  progress(`${compiled.length} compiled files from dist/src`);
  const { file: pkgFile, pkg } = await trimmedPackageJson(root);
  const native = await nativeAddon(root);
  const units = (await walk(join(root, 'systemd'), () => false)).sort();
  const files = [
    ...compiled,
    pkgFile,
    ...native,
    ...(await Promise.all(units.map((u) => fileOf(root, u)))),
    ...(await dependencies(root, target, progress)),
  ];
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, name: pkg.name, version: pkg.version };
}
