// Every entry of a Deno KV file at once, for backup and restore: a consistent snapshot to list,
// whether a store is empty, deleting everything, and writing entries in commits within Deno KV's
// limits. The only raw KV access outside kv_store.ts.
//
// Consistency: Deno KV's list() reads in batches, each its own transaction, so a dump taken
// while the server writes could mix states (a message without its index, an inbox entry without
// its message). A snapshot therefore copies the KV file with SQLite's online backup API (WAL
// mode) in one step, hence in one read transaction, into a temporary file, which is then listed
// with Deno.openKv. VACUUM INTO would do the same, but Deno's node:sqlite refuses it without
// --allow-all (it caps ATTACH at 0, and VACUUM INTO attaches).
import { backup as sqliteBackup, DatabaseSync } from "node:sqlite";
import { KV_LIMITS, KvStore } from "./kv_store.ts";

/** What one atomic commit may hold: {@link KV_LIMITS} unless told otherwise (tests). */
export interface CommitLimits {
  /** Mutations (sets and deletes) per commit. */
  readonly commitMutations: number;
  /** Bytes of keys and values per commit. */
  readonly commitBytes: number;
  /** Bytes of keys per commit. */
  readonly commitKeyBytes: number;
}

const encoder = new TextEncoder();

/** Whether `path` names a local KV file: not `":memory:"` nor a remote database URL. */
export function isLocalKvFile(path: string): boolean {
  return path !== ":memory:" && !/^[a-z][a-z0-9+.-]*:\/\//i.test(path);
}

/** A KV file that cannot be snapshotted or read through: `Cannot read KV file "path": reason`. */
export class KvFileError extends Error {
  override name = "KvFileError";

  /** `reason` is the part after the path, for callers that name the failed action their way. */
  constructor(readonly path: string, readonly reason: string, options?: ErrorOptions) {
    super(`Cannot read KV file "${path}": ${reason}`, options);
  }
}

/**
 * Rows of a snapshot, read with SQL to check what list() returns: all entries, those with an
 * expiry (list() hides expired ones), and queued messages (kv.enqueue, which list() never shows).
 */
export interface SnapshotRows {
  total: number;
  expiring: number;
  queued: number;
}

/**
 * A copy of a KV file as of one instant, taken while other processes may be writing to it. It
 * lives in a temporary folder until disposed.
 *
 * ```ts
 * await using snap = await KvSnapshot.take("data/classcord.kv");
 * for await (const entry of snap.entries()) console.log(entry.key);
 * ```
 */
export class KvSnapshot implements AsyncDisposable {
  /** What the copy holds, counted with SQL. */
  readonly rows: SnapshotRows;
  readonly #db: string;
  readonly #dir: string;

  private constructor(db: string, dir: string, rows: SnapshotRows) {
    this.#db = db;
    this.#dir = dir;
    this.rows = rows;
  }

  /**
   * Copies the KV file at `db` (read-only: the live file is never changed) into a temporary
   * folder.
   *
   * @throws {KvFileError} when `db` is not a local, readable Deno KV file
   */
  static async take(db: string): Promise<KvSnapshot> {
    const dir = await Deno.makeTempDir({ prefix: "classcord_backup_" });
    try {
      const copy = `${dir}/snapshot.kv`;
      await copyKvFile(db, copy);
      return new KvSnapshot(db, dir, countRows(copy));
    } catch (err) {
      await Deno.remove(dir, { recursive: true });
      throw err;
    }
  }

  /**
   * Every entry of the snapshot, in key order.
   *
   * @throws {KvFileError} at the end when fewer or more entries were listed than the copy has
   * rows (with no expiring entries, which list() may hide)
   */
  async *entries(): AsyncGenerator<Deno.KvEntry<unknown>, void, undefined> {
    const kv = await Deno.openKv(`${this.#dir}/snapshot.kv`);
    let read = 0;
    try {
      for await (const entry of kv.list({ prefix: [] })) {
        read++;
        yield entry;
      }
    } finally {
      kv.close();
    }
    // Every row of the snapshot was listed: nothing was skipped on the way.
    if (this.rows.expiring === 0 && read !== this.rows.total) {
      throw new KvFileError(
        this.#db,
        `the snapshot holds ${this.rows.total} entries but ${read} were read`,
      );
    }
  }

  /** The snapshot as a store, to read (closed by the caller before the snapshot is disposed). */
  async open(): Promise<KvStore> {
    return await KvStore.open(`${this.#dir}/snapshot.kv`);
  }

  /** Removes the copy. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.#dir, { recursive: true });
  }
}

/** Copies the KV file at `db` into `copy` as of one instant. */
async function copyKvFile(db: string, copy: string): Promise<void> {
  const fail = (reason: string, cause?: unknown) => new KvFileError(db, reason, { cause });
  if (!isLocalKvFile(db)) throw fail("not a local KV file");
  try {
    if (!(await Deno.stat(db)).isFile) throw fail("not a file");
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw fail("no such file");
    throw err instanceof Deno.errors.PermissionDenied ? fail("permission denied", err) : err;
  }
  let source: DatabaseSync | undefined;
  try {
    // Read-only: a snapshot can never change the live database.
    source = new DatabaseSync(db, { readOnly: true });
    const table = source.prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kv'",
    ).get();
    if (!table) throw fail("not a Deno KV file");
    // rate -1 copies every page in one step, that is in one read transaction: a snapshot that
    // writers (in WAL mode) neither wait for nor change.
    await sqliteBackup(source, copy, { rate: -1 });
  } catch (err) {
    if (err instanceof KvFileError) throw err;
    throw fail((err as Error).message, err);
  } finally {
    source?.close();
  }
}

function countRows(copy: string): SnapshotRows {
  const db = new DatabaseSync(copy, { readOnly: true });
  const count = (sql: string, fallback: number) => {
    try {
      return Number((db.prepare(sql).get() as { n: number | bigint }).n);
    } catch {
      return fallback; // A KV schema without that column or table: nothing of the kind.
    }
  };
  try {
    return {
      total: count("SELECT count(*) AS n FROM kv", NaN),
      expiring: count("SELECT count(*) AS n FROM kv WHERE expiration_ms >= 0", 0),
      queued: count(
        "SELECT (SELECT count(*) FROM queue) + (SELECT count(*) FROM queue_running) AS n",
        0,
      ),
    };
  } finally {
    db.close();
  }
}

/** Whether the store holds at least one entry. */
export async function hasEntries(store: KvStore): Promise<boolean> {
  for await (const _ of store.kv.list({ prefix: [] }, { limit: 1 })) return true;
  return false;
}

/**
 * Deletes every entry of the store, in commits within `limits`; returns how many.
 *
 * @throws {KvCommitError} when a commit fails for one entry alone
 */
export async function deleteEntries(
  store: KvStore,
  options: { limits?: CommitLimits } = {},
): Promise<number> {
  const limits = options.limits ?? KV_LIMITS;
  const writer = new KvBatchWriter(store, { limits });
  let deleted = 0;
  for (;;) {
    const keys: Deno.KvKey[] = [];
    const page = store.kv.list({ prefix: [] }, { limit: limits.commitMutations });
    for await (const e of page) keys.push(e.key);
    if (keys.length === 0) return deleted;
    for (const key of keys) await writer.delete(key);
    await writer.flush();
    deleted += keys.length;
  }
}

/** A commit refused for one entry alone: `Cannot write an entry: reason`; `key` says which. */
export class KvCommitError extends Error {
  override name = "KvCommitError";

  constructor(readonly key: Deno.KvKey, readonly reason: string, options?: ErrorOptions) {
    super(`Cannot write an entry: ${reason}`, options);
  }
}

interface Mutation {
  key: Deno.KvKey;
  /** Absent: a delete. */
  value?: { v: unknown };
  bytes: number;
  keyBytes: number;
}

/**
 * Groups sets and deletes into atomic commits within `limits` ({@link KV_LIMITS} by default).
 * Sizes are estimated from above, and a commit Deno KV still refuses is split in halves, down to
 * one entry. Call {@link KvBatchWriter.flush} after the last one.
 */
export class KvBatchWriter {
  readonly #store: KvStore;
  readonly #limits: CommitLimits;
  #batch: Mutation[] = [];
  #bytes = 0;
  #keyBytes = 0;
  #commits = 0;

  constructor(store: KvStore, options: { limits?: CommitLimits } = {}) {
    this.#store = store;
    this.#limits = options.limits ?? KV_LIMITS;
  }

  /** Commits done so far. */
  get commits(): number {
    return this.#commits;
  }

  /**
   * Sets `key` to `value` in a coming commit. `jsonBytes` is the length of a JSON text that
   * holds the value: V8's serialization, which Deno KV stores, is denser.
   *
   * @throws {KvCommitError} when a commit fails for one entry alone
   */
  async set(key: Deno.KvKey, value: unknown, options: { jsonBytes: number }): Promise<void> {
    const keyBytes = keySize(key);
    await this.#add({
      key,
      value: { v: value },
      bytes: keyBytes + valueSize(value, options.jsonBytes),
      keyBytes,
    });
  }

  /**
   * Deletes `key` in a coming commit.
   *
   * @throws {KvCommitError} when a commit fails for one entry alone
   */
  async delete(key: Deno.KvKey): Promise<void> {
    const size = keySize(key);
    await this.#add({ key, bytes: size, keyBytes: size });
  }

  /**
   * Commits what is pending.
   *
   * @throws {KvCommitError} when a commit fails for one entry alone
   */
  async flush(): Promise<void> {
    const batch = this.#batch;
    this.#batch = [];
    this.#bytes = this.#keyBytes = 0;
    if (batch.length > 0) await this.#commit(batch);
  }

  async #add(m: Mutation): Promise<void> {
    const limits = this.#limits;
    if (
      this.#batch.length + 1 > limits.commitMutations ||
      this.#bytes + m.bytes > limits.commitBytes ||
      this.#keyBytes + m.keyBytes > limits.commitKeyBytes
    ) {
      await this.flush();
    }
    this.#batch.push(m);
    this.#bytes += m.bytes;
    this.#keyBytes += m.keyBytes;
  }

  async #commit(batch: Mutation[]): Promise<void> {
    const op = this.#store.kv.atomic();
    for (const m of batch) {
      if (m.value) op.set(m.key, m.value.v);
      else op.delete(m.key);
    }
    try {
      const result = await op.commit();
      if (!result.ok) throw new Error("commit refused");
      this.#commits++;
    } catch (err) {
      if (batch.length === 1) {
        throw new KvCommitError(batch[0].key, (err as Error).message, { cause: err });
      }
      // The estimates were too low for this batch (a size limit): halves fit.
      const half = Math.ceil(batch.length / 2);
      await this.#commit(batch.slice(0, half));
      await this.#commit(batch.slice(half));
    }
  }
}

/** An upper bound of a key's size in Deno KV's encoding (FoundationDB tuples). */
function keySize(key: Deno.KvKey): number {
  let n = 0;
  for (const part of key) {
    if (typeof part === "string") n += 2 * encoder.encode(part).length + 2;
    else if (part instanceof Uint8Array) n += 2 * part.length + 2;
    else if (typeof part === "bigint") n += part.toString(16).length + 4;
    else n += 10;
  }
  return n;
}

/** An upper bound of a value's size, from the length of its JSON (V8's serialization is denser). */
function valueSize(value: unknown, jsonBytes: number): number {
  if (value instanceof Uint8Array) return value.length;
  if (value instanceof Deno.KvU64) return 8;
  return 2 * jsonBytes + 64;
}
