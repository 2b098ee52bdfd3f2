/**
 * Temporary state directories for the embedded store's journal
 * (src/platform/store/StateJournal.ts): each `journal()` opens a fresh one;
 * `close()` closes every journal and removes the directories.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateJournal } from '../../src/platform/store/StateJournal.js';

export interface StateDirs {
  /** A journal on a new, empty directory. */
  journal(): Promise<StateJournal>;
  close(): Promise<void>;
}

export function stateDirs(): StateDirs {
  const opened: Array<{ dir: string; journal: StateJournal }> = [];
  return {
    async journal() {
      const dir = await mkdtemp(join(tmpdir(), 'ttma-state-'));
      const journal = await StateJournal.open(dir);
      opened.push({ dir, journal });
      return journal;
    },
    async close() {
      for (const { dir, journal } of opened.splice(0)) {
        await journal.close();
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
