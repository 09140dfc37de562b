// Backup: one snapshot of a KV file, written as a backup file (format.ts), safe while the server
// runs (see src/store/kv_entries.ts for how the snapshot stays consistent).
import { isLocalKvFile, KvFileError, KvSnapshot } from "../../src/store/kv_entries.ts";
import { UsageError } from "../cli.ts";
import { describeKey } from "./codec.ts";
import { BackupWriter, entryLine } from "./format.ts";

/** `classcord_backup_YYYYMMDD-HHMMSS.ndjson`, in local time. */
export function defaultBackupName(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const day = `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}`;
  const time = `${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
  return `classcord_backup_${day}-${time}.ndjson`;
}

/**
 * Dumps every entry of the KV file `db` to `out` ("-" for stdout), through a `.partial` file
 * renamed at the end; returns the entry count. `now` is the time the header gives.
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
    console.error(
      `backup: warning: ${rows.expiring} entries have an expiry time, which is not kept`,
    );
  }
  if (rows.queued > 0) {
    console.error(`backup: warning: ${rows.queued} queued messages (kv.enqueue) are not kept`);
  }
  const partial = out === "-" ? undefined : `${out}.partial`;
  let file: Deno.FsFile | undefined;
  try {
    if (partial) file = await Deno.open(partial, { write: true, create: true, truncate: true });
  } catch (err) {
    throw new Error(`Cannot write "${out}": ${(err as Error).message}`, { cause: err });
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
      await file.sync();
      file.close();
      await Deno.rename(partial, out);
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
