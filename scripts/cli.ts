// Shared by the scripts: the store they work on, and one-line errors with exit codes.
import { DEFAULT_DB } from "../src/config.ts";
import { KvStore } from "../src/store/kv_store.ts";

/** Exit code of a script given wrong arguments (as the server's bad configuration). */
export const EXIT_USAGE = 2;

/** A wrong argument: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The KV file: `--db`, else CLASSCORD_DB, else the server's default. */
export function dbPath(flag: string | undefined): string {
  return flag ?? Deno.env.get("CLASSCORD_DB") ?? DEFAULT_DB;
}

/**
 * Opens the store a script works on (the server's, unless told otherwise). With `mustExist`, a
 * missing file is an error rather than a new empty store: a mistyped --db must not look like an
 * empty class.
 */
export async function openStore(
  flag: string | undefined,
  options: { mustExist?: boolean } = {},
): Promise<KvStore> {
  const path = dbPath(flag);
  if (options.mustExist && path !== ":memory:") {
    try {
      await Deno.stat(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new Error(`Cannot open store "${path}": no such file`);
      }
      throw err;
    }
  }
  return await KvStore.open(path);
}

/**
 * Runs a script's main and exits: its return code, 2 after a {@link UsageError}, 1 after any
 * other error, each printed as one line on stderr prefixed with the script's name.
 */
export async function run(name: string, main: () => Promise<number | void>): Promise<never> {
  try {
    Deno.exit((await main()) ?? 0);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`${name}: ${message}`);
    Deno.exit(err instanceof UsageError ? EXIT_USAGE : 1);
  }
}
