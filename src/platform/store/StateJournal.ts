/**
 * The embedded store's memory on disk: an append-only journal of JSON lines,
 * so a single-box platform without Redis keeps its deployments, minute
 * counters, live reservations, usage ledger, call records and install audit
 * across a restart or a crash (FAQ-14: caps must not reset because the
 * process did).
 *
 * Each store keeps its data in `JournalTable`s (Map-like, insertion ordered).
 * A `set` or `delete` appends one line, `{"t":table,"k":key,"v":value}` or
 * `{"t":table,"k":key,"d":1}`; `flush()` writes every pending line with one
 * write and one fdatasync, shared by all callers of the same tick, and
 * resolves once their changes are on disk. A store awaits it before it
 * answers, so nothing it granted is forgotten by a crash.
 *
 * Loading replays the lines in order (Map semantics: a key set again keeps
 * its place). A last line cut short by a crash is dropped and cut off the
 * file; any other unreadable line refuses the start (fail closed: a half-read
 * cap counter would hand out minutes again). When the journal holds more than
 * twice the lines its live entries need, it is rewritten as a snapshot
 * (temporary file, fsync, rename, fsync of the directory).
 *
 * A write that fails leaves the journal failed: every later flush rejects
 * with TTMA_ERR_STORE_UNAVAILABLE (new calls are refused, as with Redis
 * down) and the process must be restarted, which reads what did reach the disk.
 *
 * Without a path (`ttma demo`, tests) the tables are plain memory and flush
 * resolves at once.
 */
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCodes, StoreUnavailableError, TtmaError } from '../../errors.js';

/** How values of one table become JSON and back (the default: as they are). */
export interface TableCodec<T> {
  encode(value: T): unknown;
  decode(json: unknown): T;
}

const IDENTITY: TableCodec<never> = { encode: (v) => v, decode: (j) => j as never };

/** Rewrite as a snapshot once the journal has this many lines and twice the live entries. */
const COMPACT_MIN_LINES = 10_000;
/** Snapshot lines per write, so a large rewrite yields to the event loop between chunks. */
const SNAPSHOT_CHUNK_LINES = 2_000;

export const STATE_FILE_NAME = 'state.jsonl';
/** Holds the pid of the process using the directory: two writers would interleave their journals. */
export const LOCK_FILE_NAME = 'state.lock';

type Line = { t: string; k: string; v?: unknown; d?: 1 };

export class JournalTable<T> implements Iterable<[string, T]> {
  readonly #name: string;
  readonly #map: Map<string, T>;
  readonly #codec: TableCodec<T>;
  readonly #journal: StateJournal;

  /** @internal: made by StateJournal.table */
  constructor(journal: StateJournal, name: string, map: Map<string, T>, codec: TableCodec<T>) {
    this.#journal = journal;
    this.#name = name;
    this.#map = map;
    this.#codec = codec;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): T | undefined {
    return this.#map.get(key);
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  /** Remembers `value` as it is now: a value changed in place later must be set again. */
  set(key: string, value: T): this {
    this.#map.set(key, value);
    this.#journal.append(this.#name, key, () => this.#codec.encode(value));
    return this;
  }

  delete(key: string): boolean {
    const had = this.#map.delete(key);
    if (had) this.#journal.append(this.#name, key, null);
    return had;
  }

  keys(): IterableIterator<string> {
    return this.#map.keys();
  }

  values(): IterableIterator<T> {
    return this.#map.values();
  }

  entries(): IterableIterator<[string, T]> {
    return this.#map.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, T]> {
    return this.#map.entries();
  }

  /** @internal: the snapshot's lines */
  encoded(): Iterable<Line> {
    const name = this.#name;
    const codec = this.#codec;
    const map = this.#map;
    return (function* () {
      for (const [k, v] of map) yield { t: name, k, v: codec.encode(v) };
    })();
  }
}

export class StateJournal {
  readonly path: string | null;
  /** Decoded lazily: a table's JSON values wait here until the store that owns it asks for it. */
  readonly #raw = new Map<string, Map<string, unknown>>();
  readonly #tables = new Map<string, JournalTable<unknown>>();
  #file: FileHandle | null = null;
  #pending: string[] = [];
  #writing: Promise<void> | null = null;
  #queued: Promise<void> | null = null;
  #failed: Error | null = null;
  #lines = 0;
  #closed = false;

  private constructor(path: string | null) {
    this.path = path;
  }

  /** Tables in memory only: nothing survives the process. */
  static inMemory(): StateJournal {
    return new StateJournal(null);
  }

  /** Reads `dir/state.jsonl` (creating the directory and file, mode 0700 and 0600) and opens it for appending. */
  static async open(dir: string): Promise<StateJournal> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await takeLock(join(dir, LOCK_FILE_NAME));
    const journal = new StateJournal(join(dir, STATE_FILE_NAME));
    try {
      await journal.#load();
    } catch (err) {
      await rm(join(dir, LOCK_FILE_NAME), { force: true });
      throw err;
    }
    return journal;
  }

  /** Lines in the file now (tests and the compaction rule). */
  get lines(): number {
    return this.#lines;
  }

  table<T>(name: string, codec: TableCodec<T> = IDENTITY as TableCodec<T>): JournalTable<T> {
    if (this.#tables.has(name)) throw new Error(`journal table ${name} is already open`);
    const map = new Map<string, T>();
    const raw = this.#raw.get(name);
    if (raw) {
      for (const [k, v] of raw) {
        try {
          map.set(k, codec.decode(v));
        } catch (cause) {
          throw new TtmaError(ErrorCodes.CONFIG, `${this.path}: table ${name}, key ${JSON.stringify(k)}: ${(cause as Error).message}`, 500, { cause });
        }
      }
      this.#raw.delete(name);
    }
    const table = new JournalTable<T>(this, name, map, codec);
    this.#tables.set(name, table as JournalTable<unknown>);
    return table;
  }

  /** @internal: one change of a table (encode null: a delete). */
  append(table: string, key: string, encode: (() => unknown) | null): void {
    if (!this.path) return;
    const line: Line = encode ? { t: table, k: key, v: encode() } : { t: table, k: key, d: 1 };
    this.#pending.push(JSON.stringify(line));
  }

  /** Throws TTMA_ERR_STORE_UNAVAILABLE once a write failed: a store's `ping`, so /readyz reports it. */
  check(): void {
    if (this.#failed) throw this.#unavailable();
  }

  /** Resolves once every change made before the call is on disk; rejects (STORE_UNAVAILABLE) once a write failed. */
  flush(): Promise<void> {
    if (!this.path) return Promise.resolve();
    if (this.#failed) return Promise.reject(this.#unavailable());
    if (this.#writing) {
      // Ours are in the running write, or wait for the next one.
      if (this.#pending.length === 0) return this.#writing;
      this.#queued ??= this.#writing.then(
        () => this.#startWrite(),
        () => Promise.reject(this.#unavailable()),
      );
      return this.#queued;
    }
    if (this.#pending.length === 0) return Promise.resolve();
    return this.#startWrite();
  }

  /** Writes what is pending and closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush().catch(() => undefined);
    this.#closed = true;
    await this.#file?.close();
    this.#file = null;
    if (this.path) await rm(join(dirname(this.path), LOCK_FILE_NAME), { force: true });
  }

  #startWrite(): Promise<void> {
    this.#queued = null;
    if (this.#failed) return Promise.reject(this.#unavailable());
    const batch = this.#pending;
    this.#pending = [];
    const writing = this.#write(batch).finally(() => {
      if (this.#writing === writing) this.#writing = null;
    });
    this.#writing = writing;
    return writing;
  }

  async #write(batch: string[]): Promise<void> {
    if (batch.length === 0) return;
    try {
      if (!this.#file || this.#closed) throw new Error('the state file is closed');
      await this.#file.appendFile(`${batch.join('\n')}\n`);
      await this.#file.datasync();
      this.#lines += batch.length;
      if (this.#lines >= COMPACT_MIN_LINES && this.#lines > 2 * this.#liveEntries()) await this.#compact();
    } catch (err) {
      this.#failed = err as Error;
      throw this.#unavailable();
    }
  }

  #unavailable(): StoreUnavailableError {
    return new StoreUnavailableError(
      `the embedded store's state file could not be written (${this.#failed?.message}): new calls are refused until the platform is restarted`,
    );
  }

  #liveEntries(): number {
    let n = 0;
    for (const table of this.#tables.values()) n += table.size;
    for (const raw of this.#raw.values()) n += raw.size;
    return n;
  }

  /** The live entries, in order, to a new file that replaces the journal (runs inside the write chain). */
  async #compact(): Promise<void> {
    const path = this.path!;
    const temporary = `${path}.tmp`;
    const out = await open(temporary, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o600);
    let written = 0;
    try {
      let chunk: string[] = [];
      const lines = function* (this: StateJournal): Generator<Line> {
        for (const table of this.#tables.values()) yield* table.encoded();
        for (const [t, raw] of this.#raw) for (const [k, v] of raw) yield { t, k, v };
      }.call(this);
      for (const line of lines) {
        chunk.push(JSON.stringify(line));
        if (chunk.length >= SNAPSHOT_CHUNK_LINES) {
          await out.appendFile(`${chunk.join('\n')}\n`);
          written += chunk.length;
          chunk = [];
        }
      }
      // Changes made while the snapshot was written went to `#pending` and follow in the next write.
      if (chunk.length > 0) await out.appendFile(`${chunk.join('\n')}\n`);
      written += chunk.length;
      await out.sync();
    } finally {
      await out.close();
    }
    await rename(temporary, path);
    await syncDirectory(dirname(path));
    await this.#file?.close();
    this.#file = await open(path, 'a', 0o600);
    this.#lines = written;
  }

  async #load(): Promise<void> {
    const path = this.path!;
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let end = text.length;
    if (end > 0 && !text.endsWith('\n')) {
      // A write cut short by a crash: that change never reached its caller, drop it.
      end = text.lastIndexOf('\n') + 1;
    }
    const body = text.slice(0, end);
    let count = 0;
    let offset = 0;
    while (offset < body.length) {
      const next = body.indexOf('\n', offset);
      const raw = body.slice(offset, next);
      offset = next + 1;
      count++;
      const line = parseLine(raw);
      if (!line) throw new TtmaError(ErrorCodes.CONFIG, `${path}: line ${count} is not a journal entry: the state file is damaged (refusing to start on part of it)`);
      let table = this.#raw.get(line.t);
      if (!table) this.#raw.set(line.t, (table = new Map()));
      if (line.d === 1) table.delete(line.k);
      else table.set(line.k, line.v);
    }
    this.#file = await open(path, 'a', 0o600);
    if (end < text.length) await this.#file.truncate(Buffer.byteLength(body, 'utf8'));
    this.#lines = count;
  }
}

function parseLine(raw: string): Line | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const line = parsed as Record<string, unknown>;
  if (typeof line['t'] !== 'string' || typeof line['k'] !== 'string') return null;
  if (line['d'] === 1) return { t: line['t'], k: line['k'], d: 1 };
  if (!('v' in line)) return null;
  return { t: line['t'], k: line['k'], v: line['v'] };
}

/** Takes the directory's lock, or refuses when a live process other than this one holds it. */
async function takeLock(path: string): Promise<void> {
  // Created exclusively: of two processes starting together, one gets EEXIST and looks at the holder.
  try {
    await writeFile(path, `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const holder = Number((await readFile(path, 'utf8')).trim());
  if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && processAlive(holder)) {
    throw new TtmaError(ErrorCodes.CONFIG, `${dirname(path)} is in use by another platform process (pid ${holder}): one process per state directory`);
  }
  // A holder that is gone (a crash), or an unreadable lock: ours now.
  await writeFile(path, `${process.pid}\n`, { mode: 0o600 });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
