// `deno task backup` and `deno task restore`: the command line of backup/ (a consistent dump of
// the whole KV store to one NDJSON file, and back).
import { backupTo, defaultBackupName } from "./backup/backup.ts";
import { restoreFrom } from "./backup/restore.ts";
import { dbPath, parseFlags, run, UsageError } from "./cli.ts";

const HELP = `Consistent backup of the whole ClassCord store to one NDJSON file, and restore.

Usage:
  deno task backup [--db <file>] [--out <file>]
  deno task restore --in <file> [--db <file>] [--force]

backup (safe while the server runs: it reads one snapshot of the KV file)
  --out <file>   where to write; "-" for stdout
                 default classcord_backup_YYYYMMDD-HHMMSS.ndjson (local time)
  --db <file>    KV file; default CLASSCORD_DB, else ./data/classcord.kv

restore (stop the server first)
  --in <file>    backup to load; it is checked completely before anything is written
  --db <file>    KV file to fill; default CLASSCORD_DB, else ./data/classcord.kv
  --force        delete every entry of a KV file that is not empty first

  -h, --help     show this help
`;

async function backup(args: string[]): Promise<number> {
  const { values } = parseFlags(args, { db: { type: "string" }, out: { type: "string" } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const db = dbPath(values.db);
  const now = new Date();
  const out = values.out ?? defaultBackupName(now);
  if (out === "") throw new UsageError("--out needs a file name, or - for stdout");
  const entries = await backupTo(db, out, { now });
  const summary = `backup: ${entries} entries from "${db}" to ${
    out === "-" ? "stdout" : `"${out}"`
  }`;
  if (out === "-") console.error(summary);
  else console.log(summary);
  return 0;
}

async function restore(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    db: { type: "string" },
    in: { type: "string" },
    force: { type: "boolean" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const file = values.in;
  if (file === undefined || file === "") throw new UsageError("Missing --in <file> (see --help)");
  if (file === "-") {
    throw new UsageError(
      '--in cannot be "-": restore reads the file twice (a check, then the writes)',
    );
  }
  const db = dbPath(values.db);
  if (db === ":memory:") throw new UsageError('Cannot restore into ":memory:"');
  const result = await restoreFrom(file, db, { force: values.force === true });
  const replaced = result.replaced > 0 ? `, replacing ${result.replaced} entries` : "";
  console.log(
    `restore: ${result.entries} entries from "${file}" (backup of ${result.created}) into "${db}"${replaced}`,
  );
  return 0;
}

async function main(command: string | undefined, args: string[]): Promise<number> {
  if (command === "-h" || command === "--help") {
    console.log(HELP);
    return 0;
  }
  if (command === "backup") return await backup(args);
  if (command === "restore") return await restore(args);
  throw new UsageError(
    command === undefined
      ? 'Missing command "backup" or "restore" (see --help)'
      : `Unknown command "${command}": expected "backup" or "restore"`,
  );
}

if (import.meta.main) {
  const [command, ...args] = Deno.args;
  await run(command === "restore" ? "restore" : "backup", () => main(command, args));
}
