/** A file's text straight from a scanned archive's tar bytes (no disk): the installer's and the platform's way of reading a bundle's manifest. */
import type { ScannedArchive } from './archiveScan.js';

export async function readEntryText(archive: ScannedArchive, path: string): Promise<string> {
  const { Parser } = await import('tar');
  return new Promise((resolve, reject) => {
    let text = '';
    const parser = new Parser({ strict: true, brotli: false, zstd: false });
    parser.on('entry', (entry) => {
      if (entry.path.replace(/^\.\//, '') !== path) return void entry.resume();
      entry.on('data', (c: Buffer) => { text += c.toString('utf8'); });
    });
    parser.on('error', reject);
    parser.on('end', () => resolve(text));
    parser.end(archive.tar);
  });
}
