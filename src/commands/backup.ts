// `deno task backup` and `deno task restore`: the command line of backup/ (a consistent dump of
// the whole KV store to one NDJSON file, and back).
import { backupTo, defaultBackupName } from "./backup/backup.ts";
import { checkBackup } from "./backup/format.ts";
import { restoreFrom } from "./backup/restore.ts";
import { dbPath, errorReason, parseFlags, plural, resolvePath, UsageError } from "./cli.ts";

const HELP = `Consistent backup of the whole ClassCord store to one NDJSON file, and restore.

Usage:
  deno task backup [--db <file>] [--out <file>]
  deno task backup --check <file>
  deno task restore --in <file> [--db <file>] [--force]

backup (safe while the server runs: it reads one snapshot of the KV file)
  --out <file>   where to write; "-" for stdout; readable by its owner only (mode 0600)
                 default classcord_backup_YYYYMMDD-HHMMSS.ndjson here (local time)
  --db <file>    KV file; default CLASSCORD_DB, else ./data/classcord.kv
  --check <file> only check a backup, "-" for stdin, as restore does before it writes: the
                 trailer, its SHA-256 and every entry; writes nothing; exit 0 sound, 1 damaged

restore (stop the server first)
  --in <file>    backup to load, "-" for stdin (a pipe, or docker compose run -T ... < file);
                 it is checked completely before anything is written
  --db <file>    KV file to fill; default CLASSCORD_DB, else ./data/classcord.kv
  --force        delete every entry of a KV file that is not empty first

  -h, --help     show this help
`;

async function backup(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    db: { type: "string" },
    out: { type: "string" },
    check: { type: "string" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.check !== undefined) {
    if (values.out !== undefined || values.db !== undefined) {
      throw new UsageError("--check takes neither --out nor --db: it reads the backup it names");
    }
    return await check(values.check);
  }
  const db = dbPath(values.db);
  const now = new Date();
  if (values.out === "") throw new UsageError("--out needs a file name, or - for stdout");
  const name = values.out ?? defaultBackupName(now);
  const out = name === "-" ? name : resolvePath(name);
  const entries = await backupTo(db, out, { now });
  const summary = `backup: ${plural(entries, "entry", "entries")} from "${db}" to ${
    out === "-" ? "stdout" : `"${out}"`
  }`;
  if (out === "-") console.error(summary);
  else console.log(summary);
  return 0;
}

/**
 * `backup --check <file>`: one line, `Backup "/abs/cc.ndjson" is sound: 12 entries, SHA-256
 * matches (backup of <ISO time>)` and 0, or (thrown) `Backup "…" is damaged: line 17: …`.
 */
async function check(value: string): Promise<number> {
  if (value === "") throw new UsageError("--check needs a file name, or - for stdin");
  const stdin = value === "-";
  if (stdin && Deno.stdin.isTerminal()) {
    throw new UsageError("--check - reads the backup from stdin: redirect a file (< cc.ndjson)");
  }
  const file = stdin ? value : resolvePath(value);
  const name = stdin ? "from stdin" : `"${file}"`;
  let summary;
  try {
    summary = await checkBackup(stdin ? Deno.stdin : file);
  } catch (err) {
    if (err instanceof SyntaxError) {
      // "is damaged: ...: the file is damaged" would say it twice.
      const reason = err.message.replace(/: the file is damaged$/, "");
      throw new Error(`Backup ${name} is damaged: ${reason}`, { cause: err });
    }
    const reason = err instanceof Deno.errors.NotFound ? "no such file" : errorReason(err);
    throw new Error(`Cannot read backup ${name}: ${reason}`, { cause: err });
  }
  console.log(
    `Backup ${name} is sound: ${
      plural(summary.entries, "entry", "entries")
    }, SHA-256 matches (backup of ${summary.created})`,
  );
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
  if (values.in === undefined || values.in === "") {
    throw new UsageError("Missing --in <file> (see --help)");
  }
  const stdin = values.in === "-";
  if (stdin && Deno.stdin.isTerminal()) {
    throw new UsageError("--in - reads the backup from stdin: redirect a file (< cc.ndjson)");
  }
  const file = stdin ? "-" : resolvePath(values.in);
  const db = dbPath(values.db);
  if (db === ":memory:") throw new UsageError('Cannot restore into ":memory:"');
  const result = await restoreFrom(file, db, { force: values.force === true });
  const entries = (n: number) => plural(n, "entry", "entries");
  const replaced = result.replaced > 0 ? `, replacing ${entries(result.replaced)}` : "";
  console.log(
    `restore: ${entries(result.entries)} from ${
      stdin ? "stdin" : `"${file}"`
    } (backup of ${result.created}) into "${db}"${replaced}`,
  );
  return 0;
}

/** `classcord backup`: resolves with the exit code. */
export function backupCommand(args: string[]): Promise<number> {
  return withHelp(args, backup);
}

/** `classcord restore`: resolves with the exit code. */
export function restoreCommand(args: string[]): Promise<number> {
  return withHelp(args, restore);
}

async function withHelp(
  args: string[],
  command: (args: string[]) => Promise<number>,
): Promise<number> {
  if (args.includes("-h") || args.includes("--help")) {
    console.log(HELP);
    return 0;
  }
  return await command(args);
}
