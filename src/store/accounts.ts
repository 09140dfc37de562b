// Changes to accounts as the `user` command makes them: the same rules whether the command
// writes the store itself or asks the running server to (src/session/admin.ts).
import type { AccountStore } from "./store.ts";

/** A change to one account. */
export type AccountChange =
  | { op: "add"; name: string; passwordHash: string; admin: boolean }
  | { op: "passwd"; name: string; passwordHash: string }
  | { op: "del"; name: string }
  | { op: "promote" | "demote"; name: string };

/**
 * Why a change could not be made: the name is taken, or there is no such account (or no running
 * ban on the name, for an unban).
 */
export class AccountError extends Error {
  override name = "AccountError";

  constructor(readonly code: "exists" | "missing", message: string) {
    super(message);
  }
}

/**
 * Applies a change; resolves with the account's name as stored (its first spelling).
 *
 * @throws {AccountError} `exists` when adding a taken name, `missing` for any other change to a
 * name no account has
 */
export async function changeAccount(
  store: AccountStore,
  change: AccountChange,
  options: { now: number },
): Promise<string> {
  const { name } = change;
  const user = await store.getUser(name);
  if (change.op === "add") {
    if (user) throw new AccountError("exists", `User "${user.name}" already exists`);
    const { passwordHash, admin } = change;
    const record = { name, passwordHash, createdAt: options.now, ...(admin ? { admin } : {}) };
    // Checked again atomically: another add may have come in between.
    if (!await store.createUser(record)) {
      throw new AccountError("exists", `User "${name}" already exists`);
    }
    return name;
  }
  const missing = () => new AccountError("missing", `No user "${name}"`);
  if (!user) throw missing();
  const done = change.op === "passwd"
    ? await store.setPasswordHash(name, change.passwordHash)
    : change.op === "del"
    ? await store.deleteUser(name)
    : await store.setAdmin(name, change.op === "promote");
  if (!done) throw missing(); // deleted meanwhile
  return user.name;
}

/**
 * Lifts the running ban on `name` (an account's or a guest's); resolves with the name as given.
 *
 * @throws {AccountError} `missing` when no ban runs on the name
 */
export async function liftBan(
  store: AccountStore,
  name: string,
  options: { now: number },
): Promise<string> {
  const until = await store.bannedUntil(name);
  // An ended ban whose entry is not swept yet is no ban, as for the unban request of a client.
  if (until === null || until <= options.now || !await store.unban(name)) {
    throw new AccountError("missing", `No running ban on "${name}"`);
  }
  return name;
}

/** The running bans, by name (case-folded), with their end in ms since the epoch. */
export async function runningBans(
  store: AccountStore,
  options: { now: number },
): Promise<{ name: string; until: number }[]> {
  return (await store.bans())
    .filter((b) => b.until > options.now)
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
