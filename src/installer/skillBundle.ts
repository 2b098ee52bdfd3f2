/**
 * The installer's whole verdict on a skill bundle's bytes: the strict
 * archive scan (archiveScan.ts), a SKILL.md at its root, and that SKILL.md's
 * frontmatter (skillManifest.ts). One function, so the platform can run the
 * very same checks at start (installTokens/bundleChecks.ts) and refuse to
 * mint a token for a bundle every installer would refuse after spending it.
 */
import { ErrorCodes, TtmaError } from '../errors.js';
import { SKILL_LIMITS, scanArchive, type ScannedArchive } from './archiveScan.js';
import { readEntryText } from './readEntry.js';
import { readSkillManifest, type SkillManifest } from './skillManifest.js';

export interface CheckedSkillBundle {
  archive: ScannedArchive;
  manifest: SkillManifest;
}

/** Throws the installer's refusal (TTMA_ERR_INSTALL_ARCHIVE or TTMA_ERR_INSTALL_FIELD) for a bad skill bundle. */
export async function checkSkillBundle(gz: Buffer): Promise<CheckedSkillBundle> {
  const archive = await scanArchive(gz, SKILL_LIMITS, 'skill bundle');
  if (!archive.entries.some((e) => e.path === 'SKILL.md' && e.type === 'file')) {
    throw new TtmaError(ErrorCodes.INSTALL_ARCHIVE, 'refused skill bundle: no SKILL.md at its root; nothing was written', 2);
  }
  return { archive, manifest: readSkillManifest(await readEntryText(archive, 'SKILL.md')) };
}
