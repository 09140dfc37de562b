// A store's files for their owner's eyes only: they hold every password hash and private
// message. The folder made for a store is 0700, and the KV file, its SQLite companions and its
// lock are 0600, whatever the umask; a store made before (or by hand) that others can read is
// found and named with the command that fixes it.
import { basename, dirname } from "node:path";

/** Mode of a folder made for a store: its owner only. */
export const STORE_FOLDER_MODE = 0o700;
/** Mode of every store file: read and write by its owner only. */
export const STORE_FILE_MODE = 0o600;

// Group and other permission bits: any of them lets another account at the file.
const OTHERS = 0o077;
// Windows has no such modes (Deno.chmod throws there).
const POSIX = Deno.build.os !== "windows";

/** What SQLite and the store's lock write beside the KV file `db` (the admin socket is `.sock`). */
export function storeFiles(db: string): string[] {
  return [db, `${db}-wal`, `${db}-shm`, `${db}.lock`];
}

/**
 * Creates the folder of the store file `db` when missing (and its missing parents), mode 0700
 * whatever the umask. A folder that exists is left as it is.
 */
export async function makeStoreFolder(db: string): Promise<void> {
  const folder = dirname(db);
  try {
    await Deno.stat(folder);
    return;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(folder, { recursive: true, mode: STORE_FOLDER_MODE });
  // The umask may have taken bits off the mode asked for: set it exactly.
  if (POSIX) await Deno.chmod(folder, STORE_FOLDER_MODE);
}

/**
 * Creates `path` empty with mode 0600 (whatever the umask) when it does not exist; a file that
 * exists is left as it is. SQLite gives its `-wal` and `-shm` files the mode of the database
 * file, so a KV file created here first keeps all three private.
 */
export async function createPrivateFile(path: string): Promise<void> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, createNew: true, mode: STORE_FILE_MODE });
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) return;
    throw err;
  }
  file.close();
  if (POSIX) await Deno.chmod(path, STORE_FILE_MODE);
}

/**
 * A store file or folder that cannot be made or opened: one line naming the option and the
 * path, `Cannot open store "path" (--db): reason`, where a refused permission says what the
 * operator can do (Deno's own text would suggest other flags of its own).
 */
export class StoreOpenError extends Error {
  override name = "StoreOpenError";

  constructor(readonly path: string, readonly reason: string, options?: ErrorOptions) {
    super(`Cannot open store "${path}" (--db): ${reason}`, options);
  }

  /** The error `err`, met while making or opening the store at `path`, explained. */
  static from(path: string, err: unknown): StoreOpenError {
    if (err instanceof StoreOpenError) return err;
    const message = err instanceof Error ? err.message : String(err);
    let reason: string;
    if (err instanceof Deno.errors.NotCapable) {
      // `Requires write access to "/srv/data", run again with the --allow-write flag`
      const [, access, target] = message.match(/Requires (\w+) access to "(.*)"/) ?? [];
      const doing = access === "read" ? "reading" : access === "write" ? "writing" : access;
      reason = target === undefined
        ? `Deno's permissions forbid it (${message})`
        : `Deno's permissions forbid ${doing} "${target}": run it with deno task (or the ` +
          `compiled binary), or choose a --db that its --allow-${access} covers`;
    } else if (err instanceof Deno.errors.PermissionDenied) {
      // `Permission denied (os error 13): mkdir '/srv/data'`: the file the system refused.
      const target = message.match(/: \w+ '(.*)'$/s)?.[1] ?? path;
      reason = `this user may not write "${target}"; run it as a user who may, ` +
        "or choose another --db";
    } else if (err instanceof Deno.errors.NotFound) {
      reason = "no such file";
    } else {
      reason = message.replace(/(\(os error \d+\)): \w+ '.*'$/s, "$1");
    }
    return new StoreOpenError(path, reason, { cause: err });
  }
}

/** A store that other accounts of the machine can get at, and the command that closes it. */
export interface ExposedStore {
  /** The store's files (and folder) with group or other permission bits, each with its mode. */
  paths: { path: string; mode: string }[];
  /** `chmod 700 <folder> && chmod 600 <folder>/<name>*`, or the second part alone. */
  command: string;
}

/**
 * Whether the store at `db` has files others may read or write: the KV file, its `-wal` and
 * `-shm`, its lock. Its folder is named too when it is open to others and holds nothing but the
 * store's files (a folder shared with other things is not ours to close). Undefined when
 * nothing is exposed, for `:memory:`, and on Windows.
 */
export async function exposedStore(db: string): Promise<ExposedStore | undefined> {
  if (!POSIX || db === ":memory:") return undefined;
  const paths: { path: string; mode: string }[] = [];
  for (const path of storeFiles(db)) {
    const mode = await modeOf(path);
    if (mode !== undefined && (mode & OTHERS) !== 0) paths.push({ path, mode: octal(mode) });
  }
  if (paths.length === 0) return undefined;
  const folder = dirname(db);
  const folderMode = await modeOf(folder);
  const closeFolder = folderMode !== undefined && (folderMode & OTHERS) !== 0 &&
    await holdsOnlyStore(folder, basename(db));
  if (closeFolder) paths.unshift({ path: folder, mode: octal(folderMode) });
  const files = `chmod ${STORE_FILE_MODE.toString(8)} ${shellQuote(db)}*`;
  const command = closeFolder
    ? `chmod ${STORE_FOLDER_MODE.toString(8)} ${shellQuote(folder)} && ${files}`
    : files;
  return { paths, command };
}

/** The permission bits of `path`, or undefined when it does not exist. */
async function modeOf(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).mode! & 0o777;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** Whether every entry of `folder` is one of the store `name`'s files (`name`, `name-wal`...). */
async function holdsOnlyStore(folder: string, name: string): Promise<boolean> {
  for await (const entry of Deno.readDir(folder)) {
    if (!entry.name.startsWith(name)) return false;
  }
  return true;
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, "0")}`;
}

/** `path` as one shell word: as it is when plain, else in single quotes. */
function shellQuote(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}
