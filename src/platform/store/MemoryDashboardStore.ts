/** The DashboardStore contract in process (the embedded store): bounded, oldest first out. */
import type { DashboardStore, TaggedEntry } from './DashboardStore.js';

interface Entry {
  subject: string;
  tag: string;
  expires: number;
}

/** Entries kept per family at most; past it the oldest goes (each family's callers are bounded too). */
const MAX_ENTRIES = 10_000;

export class MemoryDashboardStore implements DashboardStore {
  readonly kind = 'memory' as const;
  readonly #now: () => number;
  /** family -> digest -> entry, oldest first. */
  readonly #families = new Map<string, Map<string, Entry>>();

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async put(family: string, digest: string, subject: string, ttlMs: number, maxPerSubject: number, tag = ''): Promise<void> {
    const entries = this.#family(family);
    const now = this.#now();
    for (const [key, entry] of entries) if (entry.expires <= now) entries.delete(key);
    const mine = [...entries].filter(([, e]) => e.subject === subject);
    for (const [key] of mine.slice(0, Math.max(0, mine.length - maxPerSubject + 1))) entries.delete(key);
    entries.set(digest, { subject, tag, expires: now + ttlMs });
    while (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value as string);
  }

  async get(family: string, digest: string): Promise<string | null> {
    return this.#live(family, digest)?.subject ?? null;
  }

  async getTagged(family: string, digest: string): Promise<TaggedEntry | null> {
    return this.#live(family, digest);
  }

  async take(family: string, digest: string): Promise<string | null> {
    return (await this.takeTagged(family, digest))?.subject ?? null;
  }

  async takeTagged(family: string, digest: string): Promise<TaggedEntry | null> {
    // Read and delete in one synchronous step: no other take runs in between.
    const entry = this.#live(family, digest);
    this.#family(family).delete(digest);
    return entry;
  }

  #live(family: string, digest: string): TaggedEntry | null {
    const entries = this.#family(family);
    const entry = entries.get(digest);
    if (entry === undefined) return null;
    if (entry.expires <= this.#now()) {
      entries.delete(digest);
      return null;
    }
    return { subject: entry.subject, tag: entry.tag };
  }

  async delete(family: string, digest: string): Promise<void> {
    this.#family(family).delete(digest);
  }

  async revoke(family: string, subject: string): Promise<number> {
    const entries = this.#family(family);
    let removed = 0;
    for (const [key, entry] of entries) {
      if (entry.subject !== subject) continue;
      entries.delete(key);
      removed += 1;
    }
    return removed;
  }

  /** Live and expired entries not yet swept, in one family (tests). */
  size(family: string): number {
    return this.#family(family).size;
  }

  async close(): Promise<void> {
    this.#families.clear();
  }

  #family(name: string): Map<string, Entry> {
    let entries = this.#families.get(name);
    if (!entries) {
      entries = new Map();
      this.#families.set(name, entries);
    }
    return entries;
  }
}
