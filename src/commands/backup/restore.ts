// Restore: a backup file checked through, then written into a store in atomic batches.
import { deleteEntries, hasEntries, KvBatchWriter, KvCommitError } from "../../store/kv_entries.ts";
import { KvStore } from "../../store/kv_store.ts";
import { StoreLock } from "../../store/lock.ts";
import { errorReason, plural } from "../cli.ts";
import { describeKey } from "./codec.ts";
import { type BackupSummary, checkBackup, readBackup } from "./format.ts";

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
 * Loads a backup file into the KV file `db`: checks the whole file first, then writes it in
 * atomic batches, holding the store's lock: never while the server (or another tool) uses it.
 *
 * @throws {StoreInUseError} naming what holds the store; {Error} `Cannot restore "file": reason`,
 * or the target has entries and not `force`
 */
export async function restoreFrom(
  file: string,
  db: string,
  options: { force?: boolean } = {},
): Promise<RestoreResult> {
  const fail = (err: unknown) => {
    if (err instanceof Deno.errors.NotFound) {
      return new Error(`Cannot restore "${file}": no such file`);
    }
    return new Error(`Cannot restore "${file}": ${reason(err)}`, { cause: err });
  };
  // Taken first: a store in use is refused before anything else is looked at.
  using _lock = await StoreLock.acquire(db, "classcord restore");
  // First pass: nothing is written from a truncated or damaged file.
  let checked: BackupSummary;
  try {
    checked = await checkBackup(file);
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
      summary = await readBackup(file, async (key, value, lineBytes) => {
        await writer.set(key, value, { jsonBytes: lineBytes });
      });
      await writer.flush();
    } catch (err) {
      const e = fail(err);
      e.message += ` (after ${plural(writer.commits, "commit")}: "${db}" is incomplete)`;
      throw e;
    }
    if (summary.entries !== checked.entries) {
      throw new Error(`Cannot restore "${file}": it changed while being restored`);
    }
    return { ...summary, replaced };
  } finally {
    store.close();
  }
}
