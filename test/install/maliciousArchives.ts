/** The hostile archives of the install check list, built for real (headers crafted where `tar` will not write them). */
import { gzipSync } from 'node:zlib';
import { craftTar, craftTarGz, setField, type CraftEntry } from '../helpers/tarCraft.js';

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

/** A skill bundle whose first added entry's header (after SKILL.md's) has one field rewritten, checksum fixed. */
function patched(entries: CraftEntry[], header: number, offset: number, width: number, value: string): Buffer {
  const tar = craftTar([{ path: 'SKILL.md', body: SKILL_MD }, ...entries]);
  setField(tar, 1024 + header, offset, width, value);
  return gzipSync(tar);
}

/** A skill bundle whose first added entry's header stores its right checksum in base-256 (the sum counts the field as spaces, so it stays right). */
function base256Checksum(entries: CraftEntry[]): Buffer {
  const tar = craftTar([{ path: 'SKILL.md', body: SKILL_MD }, ...entries]);
  const sum = parseInt(tar.toString('latin1', 1024 + 148, 1024 + 154), 8);
  tar.fill(0, 1024 + 148, 1024 + 156);
  tar[1024 + 148] = 0x80;
  tar.writeUInt32BE(sum, 1024 + 152);
  return gzipSync(tar);
}

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
    // Framing two tar readers could read two ways (tarReader.ts), and link targets on plain entries.
    'pax linkpath on a plain file': [withSkill({ path: 'notes.md', body: 'x', paxRecords: { linkpath: '/etc/passwd' } }), /"notes\.md": a File entry with a link target "\/etc\/passwd"/],
    'pax linkpath inside the archive on a plain file': [withSkill({ path: 'notes.md', body: 'x', paxRecords: { linkpath: 'SKILL.md' } }), /"notes\.md": a File entry with a link target "SKILL\.md"/],
    'GNU long link name on a plain file': [withSkill({ path: 'notes.md', body: 'x', gnuLongLink: '../../etc/shadow' }), /"notes\.md": a File entry with a link target/],
    'no end-of-archive marker': [craftTarGz([{ path: 'SKILL.md', body: SKILL_MD }], { end: 0 }), /not a valid tar archive \(no end-of-archive marker \(two zero blocks\) after byte 1024: the archive is truncated\)/],
    'one zero block where the end marker needs two': [craftTarGz([{ path: 'SKILL.md', body: SKILL_MD }], { end: 1 }), /only one zero block at byte 1024/],
    'data after the end-of-archive marker': [craftTarGz([{ path: 'SKILL.md', body: SKILL_MD }], { after: craftTar([{ path: 'hidden.md', body: 'x' }]) }), /data after the end-of-archive marker at byte 1024/],
    'size field that is not octal': [withSkill({ path: 'notes.md', body: 'x', sizeField: '0000000001x\0' }), /the size field is not an octal number/],
    'size field with a digit 9': [withSkill({ path: 'notes.md', body: 'x', sizeField: '00000000019\0' }), /the size field is not an octal number/],
    'size field in negative base-256': [withSkill({ path: 'notes.md', body: 'x', sizeField: Buffer.alloc(12, 0xff) }), /the size field is not an octal number/],
    'header checksum mismatch': [withSkill({ path: 'notes.md', body: 'x', badChecksum: true }), /header checksum mismatch/],
    'malformed pax record': [withSkill({ path: 'notes.md', body: 'x', rawPax: '30 path=evil.md\n' }), /a pax record whose length does not match its text/],
    'GNU sparse pax record': [withSkill({ path: 'notes.md', body: 'x', paxRecords: { 'GNU.sparse.size': '1048576' } }), /the pax record "GNU\.sparse\.size", which other tar readers honour/],
    'global pax header naming a path': [withSkill({ path: 'notes.md', body: 'x', paxRecords: { path: 'other.md' }, paxGlobal: true }), /a global pax header setting path for every entry/],
    'directory carrying data (a file hidden in its body)': [
      withSkill({ path: 'd/', type: '5', withData: true, body: craftTar([{ path: 'smuggled.md', body: 'x' }], { end: 0 }) }),
      /a Directory entry carrying 1024 bytes of data/,
    ],
    // A ustar prefix GNU tar joins to the name on the magic alone and node-tar/libarchive ignore unless the version is "00".
    'ustar prefix under a version other than 00': [withSkill({ path: 'notes.md', body: 'x', prefix: 'elsewhere', version: '\0\0' }), /a ustar prefix field under version "\\u0000\\u0000", not "00"/],
    'ustar prefix hiding a ".."': [withSkill({ path: 'notes.md', body: 'x', prefix: 'a/../..' }), /"a\/\.\.\/\.\.\/notes\.md": "\.\." in the path/],
    // 128 two-byte characters: under the 255-character path limit, over Linux's 255-byte NAME_MAX, so open(2) would fail mid-extraction.
    'a path segment longer than 255 bytes': [withSkill({ path: `${'\u00e9'.repeat(128)}.md`, body: 'x', pax: true }), /a path segment longer than 255 bytes/],
    'a GNU sparse file': [withSkill({ path: 'holes.bin', type: 'S', body: 'x', withData: true }), /a GNU sparse file \('S'\)/],
    // GNU tar reads a long name up to a NUL in its padded block, node-tar and libarchive only within the size: "l" or the whole name.
    'GNU long name cut short by its size': [patched([{ path: `${'l'.repeat(120)}.md`, body: 'x', gnuLongName: true }], 0, 124, 12, '00000000001\0'), /a GNU long name with no NUL within its 1 bytes/],
    // GNU tar refuses a uid that is not a number; node-tar's parseInt reads 1000 out of it.
    'uid field that is not a number': [patched([{ path: 'notes.md', body: 'x' }], 0, 108, 8, '0001750\x02'), /the uid field is not an octal number/],
    // The right sum in base-256: node-tar reads it, GNU tar finds no header there.
    'header checksum in base-256': [base256Checksum([{ path: 'notes.md', body: 'x' }]), /a base-256 header checksum/],
    'truncated archive': [gzipSync(craftTar([{ path: 'SKILL.md', body: SKILL_MD }]).subarray(0, 700)), /not a valid tar archive|TAR_/],
  };
}
