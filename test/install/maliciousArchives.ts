/** The hostile archives of the install check list, built for real (headers crafted where `tar` will not write them). */
import { gzipSync } from 'node:zlib';
import { craftTar, craftTarGz, type CraftEntry } from '../helpers/tarCraft.js';

const SKILL_MD = `---
name: evil-skill
description: "x"
version: 1.0.0
metadata:
  openclaw:
    requires:
      bins:
        - ttma
---
`;

const withSkill = (...entries: CraftEntry[]): Buffer => craftTarGz([{ path: 'SKILL.md', body: SKILL_MD }, ...entries]);

/** name -> [archive, text the refusal must contain] */
export function maliciousArchives(): Record<string, [Buffer, RegExp]> {
  const deep = Array.from({ length: 9 }, (_, i) => `d${i}`).join('/');
  return {
    'dot-dot path': [withSkill({ path: '../escape.txt', body: 'x' }), /"\.\.\/escape\.txt": "\.\." in the path/],
    'dot-dot inside a path': [withSkill({ path: 'a/../../escape.txt', body: 'x' }), /"\.\." in the path/],
    'absolute path': [withSkill({ path: '/etc/cron.d/evil', body: 'x' }), /"\/etc\/cron\.d\/evil": absolute path/],
    symlink: [withSkill({ path: 'link', type: '2', linkpath: '/etc/passwd' }), /"link": a SymbolicLink entry.*\/etc\/passwd/],
    'hard link': [withSkill({ path: 'hard', type: '1', linkpath: 'SKILL.md' }), /"hard": a Link entry/],
    'dir, then symlink, then file through it': [
      withSkill({ path: 'a/', type: '5' }, { path: 'a/b', type: '2', linkpath: '/tmp' }, { path: 'a/b/c.txt', body: 'x' }),
      /"a\/b": a SymbolicLink entry/,
    ],
    'character device': [withSkill({ path: 'dev', type: '3' }), /"dev": a CharacterDevice entry/],
    fifo: [withSkill({ path: 'pipe', type: '6' }), /"pipe": a FIFO entry/],
    'setuid file': [withSkill({ path: 'suid', body: 'x', mode: 0o4755 }), /"suid": setuid/],
    backslash: [withSkill({ path: 'a\\..\\b.txt', body: 'x' }), /backslash/],
    'drive letter': [withSkill({ path: 'C:evil.txt', body: 'x' }), /drive letter/],
    'newline in a name': [withSkill({ path: 'bad\nname.txt', body: 'x' }), /"bad\\x0aname\.txt": control or invisible/],
    'escape character in a pax name': [withSkill({ path: 'bad\u001b[31m.txt', body: 'x', pax: true }), /control or invisible/],
    'bidi override': [withSkill({ path: 'txt.\u202Eexe', body: 'x', pax: true }), /control or invisible/],
    'Unicode NFC collision': [
      withSkill({ path: 'Caf\u00e9.md', body: 'x', pax: true }, { path: 'Cafe\u0301.md', body: 'y', pax: true }),
      /collides with/,
    ],
    'case-fold collision': [withSkill({ path: 'readme.md', body: 'x' }, { path: 'README.md', body: 'y' }), /"README\.md".*collides with "readme\.md"/],
    'sharp s collision': [withSkill({ path: 'stra\u00dfe.md', body: 'x', pax: true }, { path: 'STRASSE.md', body: 'y' }), /collides with/],
    'duplicate entry': [withSkill({ path: 'x.md', body: 'x' }, { path: 'x.md', body: 'y' }), /appears twice/],
    'file used as a directory': [withSkill({ path: 'f', body: 'x' }, { path: 'f/g.md', body: 'y' }), /a parent of it is a file/],
    'deep nesting': [withSkill({ path: `${deep}/x.md`, body: 'x' }), /deeper than 8 levels/],
    'too many entries': [withSkill(...Array.from({ length: 300 }, (_, i) => ({ path: `f${i}.md`, body: 'x' }))), /more than 256 entries/],
    'gzip bomb': [gzipSync(craftTar([{ path: 'SKILL.md', body: SKILL_MD }, { path: 'zeros.bin', body: Buffer.alloc(1024 * 1024 - 4096) }, ...Array.from({ length: 7 }, (_, i) => ({ path: `z${i}.bin`, body: Buffer.alloc(1024 * 1024 - 4096) }))]), { level: 9 }), /gzip bomb/],
    'nested gzip': [gzipSync(craftTarGz([{ path: 'SKILL.md', body: SKILL_MD }])), /compressed twice/],
    'not gzip': [craftTar([{ path: 'SKILL.md', body: SKILL_MD }]), /not a gzip file/],
    'truncated archive': [gzipSync(craftTar([{ path: 'SKILL.md', body: SKILL_MD }]).subarray(0, 700)), /not a valid tar archive|TAR_/],
  };
}
