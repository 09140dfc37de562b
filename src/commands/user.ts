// Account administration from the shell: add, delete, set a password, list.
//
// Passwords are typed without echo when stdin is a terminal, else read from the first line of
// stdin (for scripts). They are never printed, logged or put in an error message.
import { checkName } from "../src/auth/names.ts";
import { DEFAULT_ARGON2, WorkerHasher } from "../src/auth/password.ts";
import type { KvStore } from "../src/store/kv_store.ts";
import { openStore, parseFlags, run, UsageError } from "./cli.ts";

/** 1..1024 bytes (PROTOCOL B.7), as the server's register request. */
export const MAX_PASSWORD_BYTES = 1024;
/** Exit code after Ctrl-C at a password prompt (128 + SIGINT, as shells report it). */
export const EXIT_INTERRUPTED = 130;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

const HELP = `Manages ClassCord accounts (the server may be running).

Usage: deno task user <command> [--db <file>]

Commands:
  add <name>      create an account; asks for its password twice; --admin makes it an
                  administrator (kick, mute, ban, announce from a chat client)
  passwd <name>   set a new password
  del <name>      delete an account and its offline messages
  list            every account with its creation date (UTC) and "admin", by name

Passwords are typed without echo on a terminal; otherwise the first line of stdin is the
password (for scripts: printf '%s\\n' "$pw" | deno task user add alice).

Options:
  --db <file>     KV file; default CLASSCORD_DB, else ./data/classcord.kv
  -h, --help      show this help
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

/** argon2id with the server's parameters (PROTOCOL B.7), in one worker. */
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
  if (raw === undefined) throw new UsageError(`Missing <name>: deno task user ${command} <name>`);
  try {
    return checkName(raw);
  } catch (err) {
    throw new UsageError(`Invalid name ${JSON.stringify(raw)}: ${(err as Error).message}`);
  }
}

async function add(store: KvStore, name: string, admin: boolean): Promise<void> {
  // Checked first, so nobody types a password for nothing; createUser checks again atomically.
  const existing = await store.getUser(name);
  if (existing) throw new Error(`User "${existing.name}" already exists`);
  const password = await readPassword(`Password for "${name}": `, true);
  const passwordHash = await hashPassword(password);
  const user = { name, passwordHash, createdAt: Date.now(), ...(admin ? { admin: true } : {}) };
  if (!await store.createUser(user)) throw new Error(`User "${name}" already exists`);
  console.log(`Added ${admin ? "administrator" : "user"} "${name}"`);
}

async function passwd(store: KvStore, name: string): Promise<void> {
  const user = await store.getUser(name);
  if (!user) throw new Error(`No user "${name}"`);
  const password = await readPassword(`New password for "${user.name}": `, true);
  const passwordHash = await hashPassword(password);
  if (!await store.setPasswordHash(name, passwordHash)) {
    throw new Error(`Cannot set the password of "${user.name}": deleted or changed meanwhile`);
  }
  console.log(`Changed the password of "${user.name}"`);
}

async function del(store: KvStore, name: string): Promise<void> {
  const user = await store.getUser(name);
  if (!user || !await store.deleteUser(name)) throw new Error(`No user "${name}"`);
  console.log(`Deleted user "${user.name}" and their offline messages`);
}

async function list(store: KvStore): Promise<void> {
  // Keys are case-folded names, so the store lists them sorted by name.
  const lines: string[] = [];
  for await (const user of store.listUsers()) {
    const role = user.admin ? "\tadmin" : "";
    lines.push(`${user.name}\t${new Date(user.createdAt).toISOString()}${role}`);
    if (lines.length === 100) console.log(lines.splice(0).join("\n"));
  }
  if (lines.length > 0) console.log(lines.join("\n"));
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    { db: { type: "string" }, admin: { type: "boolean" } },
    { positionals: true },
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const [command, rawName, ...extra] = positionals;
  const commands = ["add", "passwd", "del", "list"];
  if (command === undefined) throw new UsageError("Missing command (see --help)");
  if (!commands.includes(command)) {
    throw new UsageError(`Unknown command "${command}": expected ${commands.join(", ")}`);
  }
  const arity = command === "list" ? 0 : 1;
  if (positionals.length - 1 > arity) {
    throw new UsageError(`Unexpected argument ${JSON.stringify(extra.at(-1) ?? rawName)}`);
  }
  const name = command === "list" ? "" : validName(rawName, command);
  // Only add may create the KV file (accounts made before the server's first start); elsewhere a
  // mistyped --db must not look like an empty class.
  const store = await openStore(values.db, { mustExist: command !== "add" });
  try {
    if (command === "add") await add(store, name, values.admin === true);
    else if (command === "passwd") await passwd(store, name);
    else if (command === "del") await del(store, name);
    else await list(store);
    return 0;
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    console.error("user: interrupted");
    return EXIT_INTERRUPTED;
  } finally {
    store.close();
  }
}

if (import.meta.main) await run("user", () => main(Deno.args));
