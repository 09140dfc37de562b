// Who holds a store: an exclusive advisory lock on "<store>.lock", held for the life of the
// process that writes the store, with the holder's PID and command in the file for the others.
import { createPrivateFile, makeStoreFolder, StoreOpenError } from "./files.ts";

/** What a lock file says of its holder. */
export interface Holder {
  pid: number;
  /** What runs: `classcord serve`, `classcord import`... */
  command: string;
  /** ISO time the lock was taken. */
  since: string;
  /** The server's admin socket, where commands that write go while it runs. */
  socket?: string;
}

/** The store is held by another process: what holds it, for a one-line refusal. */
export class StoreInUseError extends Error {
  override name = "StoreInUseError";

  constructor(readonly path: string, readonly holder: Holder | undefined) {
    super(
      `Store "${path}" is in use by ${
        holder ? `${holder.command} (pid ${holder.pid}, since ${holder.since})` : "another process"
      }: stop it first`,
    );
  }
}

/** The lock file of a store. */
export function lockPath(store: string): string {
  return `${store}.lock`;
}

/**
 * An exclusive lock on a store: taken once, held until {@link release} (or the process ends, as
 * the kernel drops the lock with the file descriptor: a crashed holder never blocks anyone).
 */
export class StoreLock implements Disposable {
  readonly #file: Deno.FsFile;
  readonly holder: Holder;

  private constructor(file: Deno.FsFile, holder: Holder) {
    this.#file = file;
    this.holder = holder;
  }

  /**
   * Takes the lock of the store at `path` (creating its folder, 0700, and the lock file, 0600)
   * for `command`, and writes who holds it.
   *
   * @throws {StoreInUseError} when another process holds it; {StoreOpenError} when the folder
   * or the lock file cannot be made or opened
   */
  static async acquire(
    path: string,
    command: string,
    options: { socket?: string } = {},
  ): Promise<StoreLock> {
    let file: Deno.FsFile;
    try {
      await makeStoreFolder(path);
      await createPrivateFile(lockPath(path));
      file = await Deno.open(lockPath(path), { read: true, write: true, create: true });
    } catch (err) {
      throw StoreOpenError.from(path, err);
    }
    if (!await file.tryLock(true)) {
      file.close();
      throw new StoreInUseError(path, await StoreLock.holder(path));
    }
    const holder: Holder = {
      pid: Deno.pid,
      command,
      since: new Date().toISOString(),
      ...options.socket ? { socket: options.socket } : {},
    };
    await file.truncate(0);
    await file.write(new TextEncoder().encode(JSON.stringify(holder) + "\n"));
    return new StoreLock(file, holder);
  }

  /**
   * Who holds the store at `path` now, if anyone (what its lock file says).
   *
   * @throws {StoreOpenError} when the lock file cannot be opened
   */
  static async holder(path: string): Promise<Holder | undefined> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(lockPath(path), { read: true, write: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw StoreOpenError.from(path, err);
    }
    try {
      if (await file.tryLock(true)) return undefined; // nobody: a lock left by a past holder
      try {
        return JSON.parse(await new Response(file.readable).text()) as Holder;
      } catch {
        return undefined; // being written: held, by whom not known yet
      }
    } finally {
      try {
        file.close();
      } catch {
        // file.readable closes the file once read
      }
    }
  }

  /**
   * The PIDs, as this process sees them, of the processes holding the store's lock, from the
   * kernel's table of locks (/proc/locks, Linux): the holder's own PID in its lock file is the
   * one of its PID namespace, which differs when it runs in a container. An empty list when
   * nobody holds it (or the holder is in a namespace this process cannot see); undefined where
   * the table cannot be read (not Linux).
   */
  static async holderPids(path: string): Promise<number[] | undefined> {
    let table: string;
    let stat: Deno.FileInfo;
    try {
      table = await Deno.readTextFile("/proc/locks");
      stat = await Deno.stat(lockPath(path));
    } catch {
      return undefined;
    }
    // Lines as `1: FLOCK  ADVISORY  WRITE 812 fe:00:2155522 0 EOF`: the device as major:minor in
    // hex, then the inode (fs/locks.c). Linux splits st_dev as its MAJOR() and MINOR() do.
    const dev = stat.dev;
    const major = Math.floor(dev / 2 ** 8) % 2 ** 12 + Math.floor(dev / 2 ** 44) * 2 ** 12;
    const minor = dev % 2 ** 8 + (Math.floor(dev / 2 ** 20) % 2 ** 24) * 2 ** 8;
    const file = `${major.toString(16).padStart(2, "0")}:${
      minor.toString(16).padStart(2, "0")
    }:${stat.ino}`;
    const pids: number[] = [];
    for (const line of table.split("\n")) {
      const fields = line.trim().split(/\s+/);
      // A lock waited for, not held, has "->" before FLOCK: fields[1] differs.
      if (fields[1] !== "FLOCK" || fields[5] !== file) continue;
      const pid = Number(fields[4]);
      if (pid > 0) pids.push(pid);
    }
    return pids;
  }

  /** Releases the lock; the file stays, unlocked. */
  release(): void {
    try {
      this.#file.close();
    } catch {
      // already released
    }
  }

  [Symbol.dispose](): void {
    this.release();
  }
}
