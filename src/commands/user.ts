// Account administration from the shell: add, delete, set a password, promote, demote, list;
// the running bans, listed and lifted.
//
// With the server stopped, the command reads or writes the store itself, holding its lock for a
// change. While the server runs, it asks the server through its admin socket, so the store has
// one writer, the sessions concerned feel a change at once, and a cluster node answers from the
// cluster (a node's own store holds no account: README, Cluster mode). Passwords are typed without echo when stdin is a
// terminal, else read from the first line of stdin (for scripts); they are hashed here and never
// printed, logged, sent or put in an error message.
import { checkName } from "../auth/names.ts";
import { DEFAULT_ARGON2, WorkerHasher } from "../auth/password.ts";
import type { AdminAccount, AdminReply } from "../protocol/admin.ts";
import {
  type AccountChange,
  AccountError,
  changeAccount,
  liftBan,
  runningBans,
} from "../store/accounts.ts";
import { StoreInUseError, StoreLock } from "../store/lock.ts";
import { askServer } from "./admin_client.ts";
import { dbPath, parseFlags, readStore, UsageError, writeStore } from "./cli.ts";
import { refuseNodeStore, USER_ON_NODE } from "./node_store.ts";

/** 1..1024 bytes (docs/protocol.md §9), as the server's register request. */
export const MAX_PASSWORD_BYTES = 1024;
/** Exit code after Ctrl-C at a password prompt (128 + SIGINT, as shells report it). */
export const EXIT_INTERRUPTED = 130;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

const HELP = `Manages ClassCord accounts, whether the server runs or not.

Usage: classcord user <command> [--db <file>]      (deno task user <command> ...)

Commands:
  add <name>       create an account; asks for its password twice; --admin makes it an
                   administrator (kick, mute, ban, unban, announce from a client); --create
                   makes the store when it does not exist yet (before the server's first start)
  passwd <name>    set a new password (its sessions are ended: they log in again)
  del <name>       delete an account and its offline messages (its sessions are ended)
  promote <name>   make an account an administrator
  demote <name>    take the administrator right away (its sessions are ended)
  list             every account with its creation date (UTC) and "admin", by name
  bans             every running ban: the name and the end of its ban (UTC), by name
  unban <name>     lift the ban on a name (a running mute of it stays until its end)

While the server runs, every command goes through it (its admin socket beside the store), so
changes are safe and felt at once, and a cluster node answers for the whole cluster. With the
server stopped, the command works on the store itself; a cluster node's store is refused (its
accounts, bans and mutes live in NATS).

Passwords are typed without echo on a terminal; otherwise the first line of stdin is the
password (for scripts: printf '%s\\n' "$pw" | classcord user add alice).

Options:
  --db <file>      KV file; default CLASSCORD_DB, else ./data/classcord.kv
  --admin          with add: an administrator
  --create         with add: create the store if it does not exist
  -h, --help       show this help
`;

/** Ctrl-C at a password prompt. */
class Interrupted extends Error {
  override name = "Interrupted";
}

/**
 * Reads a password: from a terminal without echo (twice when `confirm`), else the first line of
 * stdin; checks its length.
 *
 * @throws {UsageError} for an empty or too long password; {Error} when the two typings differ
 */
async function readPassword(prompt: string, confirm: boolean): Promise<string> {
  let password: string;
  if (Deno.stdin.isTerminal()) {
    password = await readHidden(prompt);
    if (confirm && await readHidden("Repeat the password: ") !== password) {
      throw new Error("The passwords do not match");
    }
  } else {
    password = await readFirstLine();
  }
  if (password === "") throw new UsageError("The password must not be empty");
  if (encoder.encode(password).length > MAX_PASSWORD_BYTES) {
    throw new UsageError(`The password must be at most ${MAX_PASSWORD_BYTES} bytes`);
  }
  return password;
}

/** The first line of stdin, without its LF or CRLF. */
async function readFirstLine(): Promise<string> {
  const bytes: number[] = [];
  const buf = new Uint8Array(4096);
  let eof = true;
  try {
    read: for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      for (const b of buf.subarray(0, n)) {
        if (b === 0x0a) {
          eof = false;
          break read;
        }
        bytes.push(b);
      }
      // Longer than any valid password: no need to read the rest.
      if (bytes.length > MAX_PASSWORD_BYTES + 1) break;
    }
    if (eof && bytes.length === 0) throw new UsageError("No password on stdin");
    if (bytes.at(-1) === 0x0d) bytes.pop();
    return decodePassword(bytes);
  } finally {
    buf.fill(0);
    bytes.fill(0);
  }
}

/**
 * Reads a line from the terminal in raw mode, so nothing typed is echoed. Handles Enter,
 * Backspace, Ctrl-U (erase all), Ctrl-C and Ctrl-D; the terminal mode is restored whatever
 * happens.
 */
async function readHidden(prompt: string): Promise<string> {
  const bytes: number[] = [];
  const buf = new Uint8Array(256);
  // Raw before the prompt: what is typed after seeing it is never echoed.
  Deno.stdin.setRaw(true);
  try {
    await writeAll(Deno.stderr, encoder.encode(prompt));
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) throw new UsageError("No password: end of input");
      // Escape sequences (arrow keys, function keys) arrive in one read: ignored whole.
      if (buf[0] === 0x1b) continue;
      for (const b of buf.subarray(0, n)) {
        if (b === 0x0d || b === 0x0a) return decodePassword(bytes);
        if (b === 0x03) throw new Interrupted("Interrupted");
        if (b === 0x04 && bytes.length === 0) throw new UsageError("No password: end of input");
        if (b === 0x7f || b === 0x08) eraseLastCharacter(bytes);
        else if (b === 0x15) bytes.length = 0;
        else if (b >= 0x20) bytes.push(b);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    buf.fill(0);
    bytes.fill(0);
    // The Enter typed was not echoed either: end the prompt's line.
    await writeAll(Deno.stderr, encoder.encode("\n"));
  }
}

/** Removes the last UTF-8 character: its continuation bytes (10xxxxxx), then its lead byte. */
function eraseLastCharacter(bytes: number[]): void {
  while (bytes.length > 0 && (bytes.at(-1)! & 0xc0) === 0x80) bytes.pop();
  bytes.pop();
}

function decodePassword(bytes: number[]): string {
  const array = new Uint8Array(bytes);
  try {
    return decoder.decode(array);
  } catch {
    throw new UsageError("The password is not valid UTF-8");
  } finally {
    array.fill(0);
  }
}

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array) {
  for (let done = 0; done < bytes.length;) done += await w.write(bytes.subarray(done));
}

/** argon2id with the server's parameters (docs/protocol.md §9), in one worker. */
async function hashPassword(password: string): Promise<string> {
  const hasher = new WorkerHasher({ params: DEFAULT_ARGON2, workers: 1 });
  try {
    return await hasher.hash(password);
  } finally {
    hasher.close();
  }
}

/** The name as `checkName` accepts it (NFC), or a one-line usage error. */
function validName(raw: string | undefined, command: string): string {
  if (raw === undefined) throw new UsageError(`Missing <name>: classcord user ${command} <name>`);
  try {
    return checkName(raw);
  } catch (err) {
    throw new UsageError(`Invalid name ${JSON.stringify(raw)}: ${(err as Error).message}`);
  }
}

/** Where account changes go: the store itself, or the running server. */
interface Accounts {
  /** The account's name as stored, or undefined when there is none. */
  get(name: string): Promise<string | undefined>;
  /** Makes the change; the account's name and the sessions it ended. */
  change(change: AccountChange): Promise<{ name: string; sessions: number }>;
  /** Lifts the running ban on a name; its name as given. */
  unban(name: string): Promise<string>;
}

/** What `list` and `bans` read: the store itself, or the running server. */
interface Listings {
  /** Every account, by name (case-folded). */
  users(): AsyncIterable<AdminAccount>;
  /** The running bans, by name, with their end (ms since the epoch). */
  bans(): Promise<{ name: string; until: number }[]>;
}

type AccountStore = Parameters<typeof changeAccount>[0];

/** The store written directly, its lock held: the server is not running. */
function directly(store: AccountStore): Accounts {
  return {
    async get(name) {
      return (await store.getUser(name))?.name;
    },
    async change(change) {
      return { name: await changeAccount(store, change, { now: Date.now() }), sessions: 0 };
    },
    unban: (name) => liftBan(store, name, { now: Date.now() }),
  };
}

/** The store read directly (or a snapshot of it). */
function readDirectly(store: AccountStore): Listings {
  return {
    async *users() {
      for await (const { name, createdAt, admin } of store.listUsers()) {
        yield { name, createdAt, admin };
      }
    },
    bans: () => runningBans(store, { now: Date.now() }),
  };
}

/** The running server, through its admin socket. */
function throughServer(socket: string): Accounts {
  const answer = (reply: AdminReply) => {
    if (reply.ok) return reply;
    if (reply.code === "exists" || reply.code === "missing") {
      throw new AccountError(reply.code, reply.error);
    }
    throw new Error(reply.error);
  };
  return {
    async get(name) {
      return answer(await askServer(socket, { op: "get", name })).name;
    },
    async change(change) {
      const reply = answer(await askServer(socket, change));
      return { name: reply.name ?? change.name, sessions: reply.sessions ?? 0 };
    },
    async unban(name) {
      return answer(await askServer(socket, { op: "unban", name })).name ?? name;
    },
  };
}

/** What the running server lists, through its admin socket. */
function listedByServer(socket: string): Listings {
  const answer = async (op: "list" | "bans") => {
    const reply = await askServer(socket, { op });
    if (!reply.ok) throw new Error(reply.error);
    return reply;
  };
  return {
    async *users() {
      yield* (await answer("list")).users ?? [];
    },
    async bans() {
      return (await answer("bans")).bans ?? [];
    },
  };
}

async function add(accounts: Accounts, name: string, admin: boolean): Promise<void> {
  // Checked first, so nobody types a password for nothing; the change checks again atomically.
  const existing = await accounts.get(name);
  if (existing !== undefined) throw new Error(`User "${existing}" already exists`);
  const password = await readPassword(`Password for "${name}": `, true);
  const passwordHash = await hashPassword(password);
  await accounts.change({ op: "add", name, passwordHash, admin });
  console.log(`Added ${admin ? "administrator" : "user"} "${name}"`);
}

async function passwd(accounts: Accounts, name: string): Promise<void> {
  const stored = await accounts.get(name);
  if (stored === undefined) throw new Error(`No user "${name}"`);
  const password = await readPassword(`New password for "${stored}": `, true);
  const passwordHash = await hashPassword(password);
  const { sessions } = await accounts.change({ op: "passwd", name, passwordHash });
  console.log(`Changed the password of "${stored}"${ended(sessions)}`);
}

async function del(accounts: Accounts, name: string): Promise<void> {
  const { name: stored, sessions } = await accounts.change({ op: "del", name });
  console.log(`Deleted user "${stored}" and their offline messages${ended(sessions)}`);
}

async function promote(accounts: Accounts, name: string, admin: boolean): Promise<void> {
  const op = admin ? "promote" : "demote";
  const { name: stored, sessions } = await accounts.change({ op, name });
  const now = admin ? "is now an administrator" : "is no longer an administrator";
  console.log(`"${stored}" ${now}${ended(sessions)}`);
}

/** ", 2 sessions ended" when the running server ended some. */
function ended(sessions: number): string {
  return sessions === 0 ? "" : `, ${sessions === 1 ? "1 session" : `${sessions} sessions`} ended`;
}

async function unban(accounts: Accounts, name: string): Promise<void> {
  const lifted = await accounts.unban(name);
  console.log(`Lifted the ban on "${lifted}"`);
}

/**
 * `list` or `bans`: through the running server when there is one, else from the store (a
 * snapshot while another tool holds it), which must not be a cluster node's.
 */
async function show(db: string | undefined, what: "list" | "bans"): Promise<void> {
  const path = dbPath(db);
  const holder = path === ":memory:" ? undefined : await StoreLock.holder(path);
  if (holder?.socket) {
    await print(listedByServer(holder.socket), what);
    return;
  }
  await using store = await readStore(db);
  await refuseNodeStore(store, path, USER_ON_NODE);
  await print(readDirectly(store), what);
}

/** Prints one line per account (name, creation date, "admin") or per ban (name, end). */
async function print(listings: Listings, what: "list" | "bans"): Promise<void> {
  const iso = (ms: number) => new Date(ms).toISOString();
  if (what === "bans") {
    const bans = await listings.bans();
    if (bans.length > 0) console.log(bans.map((b) => `${b.name}\t${iso(b.until)}`).join("\n"));
    return;
  }
  // Keys are case-folded names, so the store lists them sorted by name.
  const lines: string[] = [];
  for await (const user of listings.users()) {
    lines.push(`${user.name}\t${iso(user.createdAt)}${user.admin ? "\tadmin" : ""}`);
    if (lines.length === 100) console.log(lines.splice(0).join("\n"));
  }
  if (lines.length > 0) console.log(lines.join("\n"));
}

const COMMANDS = ["add", "passwd", "del", "promote", "demote", "list", "bans", "unban"];

/** `classcord user <command>`: resolves with the exit code. */
export async function userCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    db: { type: "string" },
    admin: { type: "boolean" },
    create: { type: "boolean" },
  }, { positionals: true });
  if (values.help) {
    console.log(HELP.trimEnd());
    return 0;
  }
  const [command, rawName, extra] = positionals;
  if (command === undefined) throw new UsageError(`Missing command: ${COMMANDS.join(", ")}`);
  if (!COMMANDS.includes(command)) {
    throw new UsageError(`Unknown command "${command}": expected ${COMMANDS.join(", ")}`);
  }
  if (extra !== undefined) throw new UsageError(`Unexpected argument "${extra}"`);
  if (command === "list" || command === "bans") {
    if (rawName !== undefined) throw new UsageError(`Unexpected argument "${rawName}"`);
    if (values.admin || values.create) {
      throw new UsageError(`--${values.admin ? "admin" : "create"} goes with add only`);
    }
    await show(values.db, command);
    return 0;
  }
  if ((values.admin || values.create) && command !== "add") {
    throw new UsageError(`--${values.admin ? "admin" : "create"} goes with add only`);
  }
  const name = validName(rawName, command);
  const db = dbPath(values.db);
  const holder = db === ":memory:" ? undefined : await StoreLock.holder(db);
  if (holder && !holder.socket) throw new StoreInUseError(db, holder);
  await using store = holder
    ? undefined
    : await writeStore(values.db, "user", { create: command === "add" && values.create });
  if (store) await refuseNodeStore(store, db, USER_ON_NODE);
  const accounts = holder ? throughServer(holder.socket!) : directly(store!);
  try {
    if (command === "add") await add(accounts, name, values.admin === true);
    else if (command === "passwd") await passwd(accounts, name);
    else if (command === "del") await del(accounts, name);
    else if (command === "unban") await unban(accounts, name);
    else await promote(accounts, name, command === "promote");
    return 0;
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    console.error("user: interrupted");
    return EXIT_INTERRUPTED;
  }
}
