/** A file's text from a scanned archive (no disk, no second parse): the installer's and the platform's way of reading a bundle's manifest. */
import type { ScannedArchive } from './archiveScan.js';

/** The file's content as the scan read and hashed it; '' when the archive has no such file. */
export async function readEntryText(archive: ScannedArchive, path: string): Promise<string> {
  return archive.bodies.get(path)?.toString('utf8') ?? '';
}
