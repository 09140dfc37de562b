// Backup: one snapshot of a KV file, written as a backup file (format.ts), safe while the server
// runs (see src/store/kv_entries.ts for how the snapshot stays consistent).
import { isLocalKvFile, KvFileError, KvSnapshot } from "../../store/kv_entries.ts";
import { errorReason, plural, UsageError } from "../cli.ts";
import { describeKey } from "./codec.ts";
import { BackupWriter, entryLine } from "./format.ts";

/** `classcord_backup_YYYYMMDD-HHMMSS.ndjson`, in local time. */
export function defaultBackupName(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const day = `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}`;
  const time = `${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
  return `classcord_backup_${day}-${time}.ndjson`;
}

// A backup holds every password hash and private message: for its owner's eyes only.
const BACKUP_MODE = 0o600;

/**
 * Dumps every entry of the KV file `db` to `out` ("-" for stdout), through a `.partial` file
 * with mode 0600 renamed at the end (so the backup has that mode, also when it replaces a file);
 * returns the entry count. `now` is the time the header gives.
 *
 * @throws {UsageError} when `db` is not a local KV file
 * @throws {Error} `Cannot back up "db": reason` or `Cannot write "out": reason`
 */
export async function backupTo(
  db: string,
  out: string,
  options: { now?: Date } = {},
): Promise<number> {
  if (!isLocalKvFile(db)) throw new UsageError(`Cannot back up "${db}": not a local KV file`);
  try {
    return await dump(db, out, options.now ?? new Date());
  } catch (err) {
    if (!(err instanceof KvFileError)) throw err;
    throw new Error(`Cannot back up "${db}": ${err.reason}`, { cause: err });
  }
}

async function dump(db: string, out: string, now: Date): Promise<number> {
  await using snapshot = await KvSnapshot.take(db);
  const { rows } = snapshot;
  if (rows.expiring > 0) {
    const have = rows.expiring === 1 ? "has" : "have";
    console.error(
      `backup: warning: ${
        plural(rows.expiring, "entry", "entries")
      } ${have} an expiry time, which is not kept`,
    );
  }
  if (rows.queued > 0) {
    const are = rows.queued === 1 ? "is" : "are";
    console.error(
      `backup: warning: ${plural(rows.queued, "queued message")} (kv.enqueue) ${are} not kept`,
    );
  }
  const partial = out === "-" ? undefined : `${out}.partial`;
  let file: Deno.FsFile | undefined;
  try {
    if (partial) {
      file = await Deno.open(partial, {
        write: true,
        create: true,
        truncate: true,
        mode: BACKUP_MODE,
      });
      // The mode applies to a new file only: one left by a crashed backup keeps its own.
      if (Deno.build.os !== "windows") await Deno.chmod(partial, BACKUP_MODE);
    }
  } catch (err) {
    if (file && partial) {
      file.close();
      await Deno.remove(partial).catch(() => {});
    }
    throw new Error(`Cannot write "${out}": ${errorReason(err)}`, { cause: err });
  }
  try {
    const writer = new BackupWriter(file ?? Deno.stdout);
    await writer.header(now);
    for await (const e of snapshot.entries()) {
      let line: string;
      try {
        line = entryLine(e.key, e.value);
      } catch (err) {
        throw new Error(
          `Cannot back up "${db}": key ${describeKey(e.key)}: ${(err as Error).message}`,
        );
      }
      await writer.entry(line);
    }
    const entries = await writer.end();
    if (file && partial) {
      try {
        await file.sync();
        file.close();
        await Deno.rename(partial, out);
      } catch (err) {
        throw new Error(`Cannot write "${out}": ${errorReason(err)}`, { cause: err });
      }
    }
    return entries;
  } catch (err) {
    if (file && partial) {
      try {
        file.close();
      } catch {
        // Already closed.
      }
      await Deno.remove(partial).catch(() => {});
    }
    throw err;
  }
}
