/**
 * Packs skill/ into a reproducible tar.gz and prints its SHA-256:
 *
 *   node dist/scripts/packSkill.js [--out dist/bundles/skill.tar.gz]
 *
 * Reproducible: entries sorted, portable headers (no owner names), a fixed
 * mtime, modes 0644/0755; so the same skill/ always gives the same digest.
 * The platform serves the file (`ttma platform --skill-bundle FILE`) and puts
 * the digest into every install token; the installer refuses anything else.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { create } from 'tar';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXED_MTIME = new Date('2025-01-01T00:00:00Z');

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(full)));
    else if (entry.isFile()) out.push(full);
    else throw new Error(`${full}: only plain files and directories go into the skill bundle`);
  }
  return out;
}

/** The skill directory as a tar.gz buffer and its hex SHA-256. */
export async function packSkill(skillDir = join(ROOT, 'skill')): Promise<{ bytes: Buffer; sha256: string }> {
  const files = (await listFiles(skillDir)).map((f) => relative(skillDir, f)).sort();
  const chunks: Buffer[] = [];
  const stream = create({ gzip: { level: 9 }, cwd: skillDir, portable: true, mtime: FIXED_MTIME, noDirRecurse: true }, files);
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  const bytes = Buffer.concat(chunks);
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string' } }, strict: true });
  const out = resolve(values.out ?? join(ROOT, 'dist', 'bundles', 'skill.tar.gz'));
  const { bytes, sha256 } = await packSkill();
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, bytes);
  await writeFile(`${out}.sha256`, `${sha256}  ${relative(dirname(out), out)}\n`);
  process.stdout.write(`${sha256}  ${out} (${bytes.length} bytes)\n`);
  // Read back: what was written is what was hashed.
  if (createHash('sha256').update(await readFile(out)).digest('hex') !== sha256) throw new Error('digest changed on disk');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: Error) => {
    process.stderr.write(`packSkill: ${err.message}\n`);
    process.exit(1);
  });
}
