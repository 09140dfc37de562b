// Store files as the tools' tests make and read them on disk, beside the code under test: the old
// Python server's messages file that `import` reads (README, Migrating from the old Python
// server), and the raw entries of a Deno KV file, to show a refused command wrote nothing.
import { DatabaseSync } from "node:sqlite";

/**
 * Writes at `path` a messages file of the old server with one row (zoe in general), in the schema
 * of its export script (the one tests/fixtures/old_deployment.py writes).
 */
export function writeOldMessages(path: string): void {
  const sqlite = new DatabaseSync(path);
  try {
    sqlite.exec(
      "CREATE TABLE messages (username TEXT, channel TEXT, content TEXT, timestamp TEXT)",
    );
    sqlite.exec("INSERT INTO messages VALUES ('zoe', 'general', 'x', '2026-01-01 10:00:00')");
  } finally {
    sqlite.close();
  }
}

/**
 * Every entry of the KV file `db` with its versionstamp, as one string: two reads are equal only
 * if nothing was written in between.
 */
export async function kvEntries(db: string): Promise<string> {
  const kv = await Deno.openKv(db);
  try {
    return JSON.stringify(await Array.fromAsync(kv.list({ prefix: [] })));
  } finally {
    kv.close();
  }
}
