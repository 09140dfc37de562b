// `classcord stop`: stops the server that holds a store, from any terminal of its machine. It
// signals the PID the store's lock names (SIGTERM, as systemd and Ctrl-C do) and waits until the
// lock is free, so the store can be used (restored, imported) as soon as it says so.
import { lockPath, StoreLock } from "../store/lock.ts";
import { dbPath, parseFlags, plural, UsageError } from "./cli.ts";

/** Seconds to wait for the server's exit: its shutdown ends each session with one last line. */
const DEFAULT_TIMEOUT_S = 30;

const HELP = `Stops the server that holds a store: sends it SIGTERM (identified clients get a
shutting_down error, what they sent is stored) and waits until it has let the store go.

Usage: classcord stop [--db <file>] [--timeout <seconds>]      (deno task stop ...)

Exits 0 once the server has stopped, 1 when no server holds the store or it did not stop in
time. It needs to run as the user running the server (or root).

Options:
  --db <file>          KV file of the server; default CLASSCORD_DB, else ./data/classcord.kv
  --timeout <seconds>  how long to wait for the server's exit (default ${DEFAULT_TIMEOUT_S})
  -h, --help           show this help
`;

/** `classcord stop`: resolves with the exit code. */
export async function stopCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, { db: { type: "string" }, timeout: { type: "string" } });
  if (values.help) {
    console.log(HELP.trimEnd());
    return 0;
  }
  const timeout = values.timeout === undefined ? DEFAULT_TIMEOUT_S : Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0 || values.timeout?.trim() === "") {
    throw new UsageError(
      `Invalid --timeout "${values.timeout}": expected a number of seconds above 0`,
    );
  }
  const db = dbPath(values.db);
  if (db === ":memory:") throw new UsageError('A server on ":memory:" has no store to find it by');
  const holder = await StoreLock.holder(db);
  if (!holder) throw new Error(`No server holds the store "${db}"`);
  if (holder.command !== "classcord serve") {
    throw new Error(
      `Store "${db}" is held by ${holder.command} (pid ${holder.pid}), not by a server: ` +
        "let it finish",
    );
  }
  // The kernel's word on who holds the lock, where it can be read: a server in a container
  // wrote the PID of its own namespace, which another process of the host is known by here.
  const pids = await StoreLock.holderPids(db);
  const pid = pids?.length === 1 ? pids[0] : holder.pid;
  try {
    Deno.kill(pid, "SIGTERM");
  } catch (err) {
    // Gone already (ESRCH): it may still be letting the store go, which is waited for below.
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new Error(`Cannot stop the server (pid ${pid}) of "${db}": ${killFailure(err, pid)}`, {
        cause: err,
      });
    }
  }
  if (!await released(db, timeout * 1000)) {
    throw new Error(
      `The server (pid ${pid}) of "${db}" did not stop within ${plural(timeout, "second")}`,
    );
  }
  console.log(`Stopped the server (pid ${pid}) of "${db}"`);
  return 0;
}

/** Why the signal could not be sent, and what the operator can do instead. */
function killFailure(err: unknown, pid: number): string {
  if (err instanceof Deno.errors.NotCapable) {
    // Deno's own text would say to run again with a permission flag: this program's tasks
    // decide those, so the operator is told what works without changing them.
    return `this program may not send signals (Deno's --allow-run); run kill -TERM ${pid}`;
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return "permission denied: run stop as the user that runs the server, or as root";
  }
  return (err as Error).message;
}

/**
 * Resolves true once nobody holds the store's lock (the server has exited, the kernel dropping
 * its lock), false after `ms`. It waits on the lock itself: no polling.
 */
async function released(db: string, ms: number): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(lockPath(db), { read: true, write: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return true;
    throw err;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    // Taken the moment the server lets it go, and let go at once (closing the file).
    // (A wait cut short by the timeout ends in an error once the file is closed: ignored.)
    const taken = file.lock(true).then(() => true, () => false);
    return await Promise.race([taken, expired]);
  } finally {
    clearTimeout(timer);
    file.close();
  }
}
