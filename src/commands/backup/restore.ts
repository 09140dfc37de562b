// Restore: a backup file checked through, then written into a store in atomic batches.
import { basename, dirname } from "node:path";
import { deleteEntries, hasEntries, KvBatchWriter, KvCommitError } from "../../store/kv_entries.ts";
import { KvStore } from "../../store/kv_store.ts";
import { StoreLock } from "../../store/lock.ts";
import { errorReason, plural } from "../cli.ts";
import { describeKey } from "./codec.ts";
import { type BackupSource, type BackupSummary, checkBackup, readBackup } from "./format.ts";

// The copy of stdin holds every password hash, as the backup does.
const COPY_MODE = 0o600;

/** What went wrong; a refused entry is named by its key as the backup file writes it. */
function reason(err: unknown): string {
  if (err instanceof KvCommitError) return `key ${describeKey(err.key)}: ${err.reason}`;
  return errorReason(err);
}

/** Result of {@link restoreFrom}. */
export interface RestoreResult extends BackupSummary {
  /** Entries the target held before (deleted with `force`). */
  replaced: number;
}

/**
 * stdin copied into a file without a name, in the store's folder: restore reads a backup twice
 * (the check, then the writes) and a pipe can be read once. That folder is one restore may write
 * (in a container, the volume; the image's user may have no other); the file is mode 0600 and
 * loses its name as soon as it is open, so no one else can open it and no crash leaves it behind.
 */
class StdinCopy implements AsyncDisposable {
  private constructor(readonly file: Deno.FsFile, private readonly path?: string) {}

  /** Copies all of stdin. */
  static async take(db: string): Promise<StdinCopy> {
    const path = await Deno.makeTempFile({
      dir: dirname(db),
      prefix: `${basename(db)}.stdin-`,
      suffix: ".ndjson",
    });
    let copy: StdinCopy | undefined;
    try {
      if (Deno.build.os === "windows") {
        copy = new StdinCopy(await Deno.open(path, { read: true, write: true }), path);
      } else {
        await Deno.chmod(path, COPY_MODE);
        copy = new StdinCopy(await Deno.open(path, { read: true, write: true }));
        await Deno.remove(path); // the open file stays readable through its descriptor
      }
      for await (const chunk of Deno.stdin.readable) {
        for (let done = 0; done < chunk.length;) {
          done += await copy.file.write(chunk.subarray(done));
        }
      }
      return copy;
    } catch (err) {
      if (copy) await copy[Symbol.asyncDispose]();
      else await Deno.remove(path).catch(() => {});
      throw err;
    }
  }

  /** The copy, read from its start. */
  async rewind(): Promise<Deno.FsFile> {
    await this.file.seek(0, Deno.SeekMode.Start);
    return this.file;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.file.close();
    // Windows removes no open file: there the copy keeps its name until now.
    if (this.path) await Deno.remove(this.path).catch(() => {});
  }
}

/**
 * Loads a backup file (`-`: stdin) into the KV file `db`: checks the whole file first, then
 * writes it in atomic batches, holding the store's lock: never while the server (or another
 * tool) uses it.
 *
 * @throws {StoreInUseError} naming what holds the store; {Error} `Cannot restore "file": reason`
 * (`Cannot restore from stdin: reason`), or the target has entries and not `force`
 */
export async function restoreFrom(
  file: string,
  db: string,
  options: { force?: boolean } = {},
): Promise<RestoreResult> {
  const name = file === "-" ? "from stdin" : `"${file}"`;
  const fail = (err: unknown) => {
    if (err instanceof Deno.errors.NotFound) {
      return new Error(`Cannot restore ${name}: no such file`);
    }
    return new Error(`Cannot restore ${name}: ${reason(err)}`, { cause: err });
  };
  // Taken first: a store in use is refused before anything else is looked at.
  using _lock = await StoreLock.acquire(db, "classcord restore");
  let stdin: StdinCopy | undefined;
  try {
    if (file === "-") stdin = await StdinCopy.take(db);
  } catch (err) {
    throw new Error(`Cannot restore from stdin: ${errorReason(err)}`, { cause: err });
  }
  await using _copy = stdin;
  const source = async (): Promise<BackupSource> => stdin ? await stdin.rewind() : file;
  // First pass: nothing is written from a truncated or damaged file.
  let checked: BackupSummary;
  try {
    checked = await checkBackup(await source());
  } catch (err) {
    throw fail(err);
  }
  const store = await KvStore.open(db);
  try {
    let replaced = 0;
    if (await hasEntries(store)) {
      if (!options.force) {
        throw new Error(
          `Cannot restore into "${db}": it already has entries (--force deletes them first)`,
        );
      }
      try {
        replaced = await deleteEntries(store);
      } catch (err) {
        throw err instanceof KvCommitError ? new Error(reason(err), { cause: err }) : err;
      }
    }
    const writer = new KvBatchWriter(store);
    let summary: BackupSummary;
    try {
      summary = await readBackup(await source(), async (key, value, lineBytes) => {
        await writer.set(key, value, { jsonBytes: lineBytes });
      });
      await writer.flush();
    } catch (err) {
      const e = fail(err);
      e.message += ` (after ${plural(writer.commits, "commit")}: "${db}" is incomplete)`;
      throw e;
    }
    if (summary.entries !== checked.entries) {
      throw new Error(`Cannot restore ${name}: it changed while being restored`);
    }
    return { ...summary, replaced };
  } finally {
    store.close();
  }
}
