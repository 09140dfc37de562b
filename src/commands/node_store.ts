// A cluster node's store is only its copy of the cluster's history (README, Cluster mode):
// accounts, bans and mutes live in NATS. Commands that would read or write accounts in it, or
// replace it, refuse it in one line saying where the accounts are; a backup of it says it holds
// the history only.
import { KvSnapshot } from "../store/kv_entries.ts";
import type { KvStore } from "../store/kv_store.ts";
import { StoreLock } from "../store/lock.ts";
import { dbPath, readStore } from "./cli.ts";

/** Where a cluster keeps what a node's store does not hold (src/cluster/link.ts). */
const WHERE = "accounts, bans and mutes live in NATS (bucket cc_users)";

/** A command refused on a cluster node's store. */
export class NodeStoreError extends Error {
  override name = "NodeStoreError";
}

/** `Store "path" is a cluster node's copy (node "n1")`: the start of every line said here. */
function nodeCopy(path: string, node: string | undefined): string {
  return `Store "${path}" is a cluster node's copy${node ? ` (node "${node}")` : ""}`;
}

/**
 * Refuses `store` (at `path`) when a cluster node uses it, ending the line with what the
 * operator can do instead.
 *
 * @throws {NodeStoreError} `Store "path" is a cluster node's copy (node "n1"): accounts, bans
 * and mutes live in NATS (bucket cc_users); <instead>`
 */
export async function refuseNodeStore(
  store: KvStore,
  path: string,
  instead: string,
): Promise<void> {
  const mark = await store.clusterNode();
  if (mark) throw new NodeStoreError(`${nodeCopy(path, mark.node)}: ${WHERE}; ${instead}`);
}

/** What `user` says to do instead on a node's store. */
export const USER_ON_NODE = "run user commands while the node runs: they go through it";

/**
 * Before `restore`: refuses to fill a cluster node's store (a node rebuilds its history from
 * the stream, and a backup of a single server would put accounts where nobody reads them). A
 * store in use, missing or unreadable is left to restore's own checks and messages.
 */
export async function beforeRestore(args: string[]): Promise<void> {
  if (asksHelp(args)) return;
  const db = dbPath(flag(args, "--db"));
  let mark: Awaited<ReturnType<KvStore["clusterNode"]>>;
  try {
    if (db === ":memory:" || await StoreLock.holder(db)) return;
    await Deno.stat(db);
    // Restore writes this file anyway: opening it here changes nothing restore would not.
    await using store = await readStore(db);
    mark = await store.clusterNode();
  } catch {
    return;
  }
  if (mark) {
    throw new NodeStoreError(
      `${nodeCopy(db, mark.node)}: ${WHERE}; a node rebuilds its history from the NATS ` +
        "stream: start it on an empty --db",
    );
  }
}

/**
 * Before `backup`: on a cluster node's store, one warning line that the backup holds the node's
 * history only. Read from a snapshot, as backup reads (never writing the file, which may not
 * even be a store); a file that cannot be read is left to backup's own message.
 */
export async function beforeBackup(args: string[]): Promise<void> {
  if (asksHelp(args)) return;
  const db = dbPath(flag(args, "--db"));
  let mark: Awaited<ReturnType<KvStore["clusterNode"]>>;
  try {
    await using snapshot = await KvSnapshot.take(db);
    const store = await snapshot.open();
    try {
      mark = await store.clusterNode();
    } finally {
      store.close();
    }
  } catch {
    return;
  }
  if (!mark) return;
  console.error(
    `backup: warning: ${nodeCopy(db, mark.node)}: the backup holds its history only; ${WHERE}, ` +
      "backed up with NATS's own tools (README, Cluster mode)",
  );
}

function asksHelp(args: string[]): boolean {
  return args.includes("--help") || args.includes("-h");
}

/**
 * The value of `--name value` or `--name=value` among `args` (the command itself parses them
 * fully and reports their errors), before any `--`.
 */
function flag(args: string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < args.length && args[i] !== "--"; i++) {
    if (args[i] === name) value = args[++i];
    else if (args[i].startsWith(`${name}=`)) value = args[i].slice(name.length + 1);
  }
  return value;
}
