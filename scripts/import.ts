// Migration from the old Python server in one command: its users.pkl (plaintext passwords, hashed
// here with argon2id) and its export script's SQLite messages, both idempotent.
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { BufferReader, Parser } from "pickleparser";
import { checkName, nameKey } from "../src/auth/names.ts";
import { DEFAULT_ARGON2, type PasswordHasher, WorkerHasher } from "../src/auth/password.ts";
import { DEFAULT_DB, parseConfig } from "../src/config.ts";
import { parseChannel } from "../src/protocol/channel.ts";
import { formatTimestamp, forwardedMessage } from "../src/protocol/replies.ts";
import type { Append, Store } from "../src/store/store.ts";
import { dbPath, openStore, run, UsageError } from "./cli.ts";

const USAGE =
  `Imports an old ClassCord (Python) deployment into the server's store. Stop the server first.

Usage: deno task import [--users users.pkl] [--messages classcord.db] [--db file.kv]

  --users <file>      the old server's pickle: a dict of name -> password (hashed with argon2id)
  --messages <file>   the old export script's SQLite file: messages(username, channel, content,
                      timestamp)
  --db <file>         the store to import into (env CLASSCORD_DB, default ${DEFAULT_DB})
  -h, --help          show this help

At least one of --users and --messages. Running it again imports nothing twice.
`;

// 1..1024 bytes, as register and login accept (PROTOCOL B.7): a longer password could never log in.
const MAX_PASSWORD_BYTES = 1024;
// WorkerHasher's 2 workers, plus 2 entries waiting: a hash is always queued while another
// entry's store write is awaited, so both workers stay busy.
const HASH_CONCURRENCY = 4;
// Rows read and checked at once.
const MESSAGE_BATCH = 500;
// Messages per store.append(): a bounded amount of work between two summary updates.
const APPEND_CHUNK = 500;
// Per-row warnings printed before the rest are only counted in the summary.
const MAX_ROW_WARNINGS = 20;
const DAY_MS = 24 * 60 * 60 * 1000;
// Before the Unix epoch, an old timestamp is a placeholder ("0001-01-01 00:00:00"), not a date.
const MIN_YEAR = 1970;

const encoder = new TextEncoder();

/** Counts of one part of the import, and why entries were skipped. */
class Tally {
  done = 0;
  present = 0;
  readonly skipped = new Map<string, number>();

  skip(reason: string): void {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1);
  }

  /** `users: 4 created, 0 already present, 2 skipped (1 invalid name, 1 invalid password)` */
  summary(part: string, verb: string): string {
    const total = [...this.skipped.values()].reduce((a, b) => a + b, 0);
    const reasons = [...this.skipped].map(([reason, n]) => `${n} ${reason}`).join(", ");
    return `${part}: ${this.done} ${verb}, ${this.present} already present, ${total} skipped` +
      (total > 0 ? ` (${reasons})` : "");
  }
}

/** A value quoted for one terminal line: JSON escapes, plus every invisible character. */
function quote(value: unknown): string {
  return JSON.stringify(String(value)).replace(
    /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function warn(text: string): void {
  console.error(`import: ${text}`);
}

// ---------------------------------------------------------------------------------------------
// Users

const OP_STRING = 0x53; // "S": a protocol 0 byte string, repr()-quoted
const OP_UNICODE = 0x56; // "V": a protocol 0 str, in raw-unicode-escape

/**
 * pickleparser 0.2.1 reads every text argument as "ascii", which TextDecoder takes as
 * Windows-1252, and leaves the escapes of protocol 0 str values ("V" opcode) as they are:
 * `\U0001f600` and `\u005c` stay literal and U+0080..U+009F become other characters. This
 * reader gives the "V" argument its real encoding; the parsing stays pickleparser's.
 * Byte strings (Python 2 pickles) that Python 3 itself would not read as ASCII text are refused
 * rather than imported garbled.
 */
class PickleReader extends BufferReader {
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    super(bytes);
    this.#bytes = bytes;
  }

  override line(): string {
    // A text argument follows its opcode byte at once (or the previous line of GLOBAL/INST).
    const start = this.position;
    const opcode = this.#bytes[start - 1];
    if (opcode === OP_UNICODE) {
      const end = this.#bytes.indexOf(0x0a, start);
      if (end < 0) return super.line(); // throws "Could not find end of line."
      this.skip(end + 1 - start);
      return decodeRawUnicodeEscape(this.#bytes.subarray(start, end));
    }
    const text = super.line();
    if (opcode === OP_STRING && text.includes("\\")) {
      throw new TypeError("escaped byte strings (a Python 2 pickle) are not supported");
    }
    return text;
  }

  override string(size: number, encoding: "ascii" | "utf-8"): string {
    const start = this.position;
    if (encoding === "ascii" && this.#bytes.subarray(start, start + size).some((b) => b > 0x7f)) {
      throw new TypeError("non-ASCII byte strings (a Python 2 pickle) are not supported");
    }
    return super.string(size, encoding);
  }
}

/**
 * Python's raw-unicode-escape: each byte is one Latin-1 character, except `\uXXXX` and
 * `\UXXXXXXXX` after an odd number of backslashes (CPython's rule; Python 3 pickles write every
 * backslash itself as `\u005c`).
 */
export function decodeRawUnicodeEscape(bytes: Uint8Array): string {
  let latin1 = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    latin1 += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return latin1.replace(
    /(\\+)(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})/g,
    (all, slashes: string, escape: string) => {
      if (slashes.length % 2 === 0) return all;
      const codePoint = parseInt(escape.slice(1), 16);
      if (codePoint > 0x10ffff) throw new RangeError(`Invalid escape "\\${escape}"`);
      return slashes.slice(1) + String.fromCodePoint(codePoint);
    },
  );
}

/** What a Python value is called, for an error line (never the value: it may be a password). */
function pythonType(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "string") return "str";
  if (typeof value === "number" || typeof value === "bigint") return "number";
  if (typeof value === "boolean") return "bool";
  if (value instanceof Uint8Array) return "bytes";
  if (Array.isArray(value)) return "list or tuple";
  if (value instanceof Map) return "dict";
  return "object";
}

/**
 * Reads the old server's users: a pickled dict of name -> plaintext password, in its order.
 *
 * @throws {Error} `Cannot read users from "path": reason`, for anything but a dict of strings
 */
export async function readUsers(path: string): Promise<[string, string][]> {
  const fail = (reason: string, cause?: unknown) =>
    new Error(`Cannot read users from "${path}": ${reason}`, { cause });
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw fail((err as Error).message, err);
  }
  let value: unknown;
  try {
    // A Map keeps Python's key types (an int key stays an int) and any key, "__proto__" included.
    value = new Parser({ unpicklingTypeOfDictionary: "Map" }).read(new PickleReader(bytes));
  } catch (err) {
    throw fail(`not a readable pickle (${(err as Error).message})`, err);
  }
  if (!(value instanceof Map)) {
    throw fail(`expected a dict of name -> password, found a ${pythonType(value)}`);
  }
  const users: [string, string][] = [];
  for (const [name, password] of value) {
    if (typeof name !== "string") {
      throw fail(`expected a dict of strings, found a ${pythonType(name)} name`);
    }
    if (typeof password !== "string") {
      throw fail(`expected a dict of strings, found a ${pythonType(password)} for ${quote(name)}`);
    }
    users.push([name, password]);
  }
  return users;
}

/** Creates each valid account that does not exist yet, hashing its password with argon2id. */
async function importUsers(
  store: Store,
  users: [string, string][],
  hasher: PasswordHasher,
): Promise<Tally> {
  const tally = new Tally();
  const todo: { name: string; password: string }[] = [];
  const taken = new Map<string, string>();
  for (const [raw, password] of users) {
    let name: string;
    try {
      name = checkName(raw);
    } catch (err) {
      tally.skip("invalid name");
      warn(`skipped user ${quote(raw)}: ${(err as Error).message}`);
      continue;
    }
    const bytes = encoder.encode(password).length;
    if (bytes === 0 || bytes > MAX_PASSWORD_BYTES) {
      tally.skip("invalid password");
      warn(
        `skipped user ${quote(name)}: password is ${
          bytes === 0 ? "empty" : `longer than ${MAX_PASSWORD_BYTES} bytes`
        }`,
      );
      continue;
    }
    // The old server told "Alice" from "alice"; here they are one account (names.ts), so the
    // first in the file keeps it, whatever order the hashes finish in.
    const first = taken.get(nameKey(name));
    if (first !== undefined) {
      tally.skip("duplicate name");
      warn(`skipped user ${quote(raw)}: same name as ${quote(first)} for the server`);
      continue;
    }
    taken.set(nameKey(name), name);
    todo.push({ name, password });
  }
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const { name, password } = todo[next++];
      // An existing account is left untouched, and costs no hash.
      if (await store.getUser(name)) {
        tally.present++;
        continue;
      }
      const passwordHash = await hasher.hash(password);
      if (await store.createUser({ name, passwordHash, createdAt: Date.now() })) tally.done++;
      else tally.present++;
    }
  };
  await Promise.all(Array.from({ length: HASH_CONCURRENCY }, worker));
  return tally;
}

// ---------------------------------------------------------------------------------------------
// Messages

const COLUMNS = ["username", "channel", "content", "timestamp"] as const;

/** A row of the old export: SQLite values as node:sqlite returns them. */
type OldRow = Record<(typeof COLUMNS)[number], unknown>;

// "2023-09-04 08:01:30", "2023-09-04 08:01:30.250000" (Python's str(datetime)),
// "2023-09-04T08:01:30", with an optional "Z" or "+02:00" / "+0200" / "+02".
const OLD_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

function daysInMonth(year: number, month: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, 0);
  return d.getUTCDate();
}

/**
 * Reads an old timestamp: local time of the importing machine unless it carries an offset;
 * milliseconds since the epoch, or undefined for anything else (impossible dates included).
 */
export function parseOldTimestamp(raw: unknown): number | undefined {
  if (typeof raw !== "string") return undefined;
  const m = OLD_TIMESTAMP.exec(raw.trim());
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  // Microseconds (Python) are cut to milliseconds, as the server stores them.
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, "0"));
  if (
    year < MIN_YEAR || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) ||
    hour > 23 || minute > 59 || second > 59
  ) {
    return undefined;
  }
  const zone = m[8];
  if (zone === undefined) {
    return new Date(year, month - 1, day, hour, minute, second, ms).getTime();
  }
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== "Z") {
    const hours = Number(zone.slice(1, 3));
    const minutes = Number(zone.slice(3).replace(":", "") || "0");
    if (hours > 23 || minutes > 59) return undefined;
    offsetMinutes = (zone[0] === "-" ? -1 : 1) * (hours * 60 + minutes);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMinutes * 60_000;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Opens the old export read-only and checks its table.
 *
 * @throws {Error} `Cannot read messages from "path": reason`
 */
export function openMessages(path: string): DatabaseSync {
  const fail = (reason: string, cause?: unknown) =>
    new Error(`Cannot read messages from "${path}": ${reason}`, { cause });
  try {
    Deno.statSync(path);
  } catch (err) {
    throw fail((err as Error).message, err);
  }
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { readOnly: true });
    const found = new Set(
      db.prepare("SELECT name FROM pragma_table_info('messages')").all()
        .map((r) => String(r.name).toLowerCase()),
    );
    const expected = `expected a table messages(${COLUMNS.join(", ")})`;
    if (found.size === 0) throw fail(`no table "messages" (${expected})`);
    const missing = COLUMNS.filter((c) => !found.has(c));
    if (missing.length > 0) {
      throw fail(`table "messages" has no column ${missing.map((c) => `"${c}"`).join(", ")}`);
    }
    return db;
  } catch (err) {
    db?.close();
    const message = (err as Error).message;
    throw message.startsWith("Cannot read messages") ? err : fail(message, err);
  }
}

/** A row ready to store, before its seq is known. */
interface Ready {
  from: string;
  content: string;
  channel: string;
  ts: number;
  importKey: string;
}

/** Imports every valid row as a channel message, after the store's last seq. */
class MessageImport {
  readonly tally = new Tally();
  /** Imported messages older than the server's retention (they would be deleted at start). */
  old = 0;
  readonly #store: Store;
  readonly #retentionStart: number | undefined;
  #seq = 0;
  #row = 0;
  #warnings = 0;
  /**
   * How often each exact row was seen so far, by the SHA-256 of the row. Two identical rows of
   * the old database are two messages (someone said "ok" twice in the same second), so the
   * import key is the row's content plus its occurrence index: the first "ok" keeps the plain
   * SHA-256 of the row, the second one the SHA-256 of that hash and 1, and so on. The occurrence index
   * rather than the rowid, because it depends only on the data: a later export of the same
   * deployment (renumbered rowids, more rows) still finds the messages already imported.
   * Costs about 150 bytes per distinct row.
   */
  readonly #occurrences = new Map<string, number>();

  constructor(store: Store, retentionDays: number | undefined) {
    this.#store = store;
    this.#retentionStart = retentionDays ? Date.now() - retentionDays * DAY_MS : undefined;
  }

  async run(db: DatabaseSync): Promise<void> {
    this.#seq = await this.#store.lastSeq();
    // Table order (rowid order for an ordinary table): the order the old server wrote them, so
    // seqs follow it; history is ordered by timestamp whatever the seqs.
    const rows = db.prepare(`SELECT ${COLUMNS.join(", ")} FROM messages`).iterate();
    let batch: OldRow[] = [];
    for (const row of rows) {
      batch.push(row as OldRow);
      if (batch.length === MESSAGE_BATCH) {
        await this.#batch(batch);
        batch = [];
      }
    }
    await this.#batch(batch);
    if (this.#warnings > MAX_ROW_WARNINGS) {
      warn(`${this.#warnings - MAX_ROW_WARNINGS} more skipped rows not listed`);
    }
  }

  async #batch(rows: OldRow[]): Promise<void> {
    const ready = (await Promise.all(rows.map((row) => this.#check(row, ++this.#row))))
      .filter((r) => r !== undefined);
    // Occurrence indexes in table order, then the keys of repeated rows.
    for (const r of ready) {
      const seen = this.#occurrences.get(r.importKey) ?? 0;
      this.#occurrences.set(r.importKey, seen + 1);
      if (seen > 0) r.importKey = await sha256Hex(`${r.importKey}\n${seen}`);
    }
    // Known keys are left out before seqs are given, so the new seqs follow each other.
    const known = await this.#store.knownImports(ready.map((r) => r.importKey));
    const fresh = ready.filter((r) => !known.has(r.importKey));
    const appends: Append[] = fresh.map((r) => {
      const seq = ++this.#seq;
      const timestamp = formatTimestamp(r.ts);
      const line = forwardedMessage(
        { type: "message", content: r.content, channel: r.channel },
        r.from,
        timestamp,
        seq,
      );
      return { message: { seq, ts: r.ts, channel: r.channel, line }, importKey: r.importKey };
    });
    let written = 0;
    for (let i = 0; i < appends.length; i += APPEND_CHUNK) {
      written += await this.#store.append(appends.slice(i, i + APPEND_CHUNK));
    }
    this.tally.done += written;
    this.tally.present += ready.length - written;
    if (this.#retentionStart !== undefined) {
      this.old += fresh.filter((r) => r.ts < this.#retentionStart!).length;
    }
  }

  /** The row as a message to store, or undefined (counted and reported) when it cannot be. */
  async #check(row: OldRow, index: number): Promise<Ready | undefined> {
    const text = (v: unknown) =>
      typeof v === "string" ? v : typeof v === "number" || typeof v === "bigint" ? String(v) : null;
    const from = text(row.username);
    const content = text(row.content);
    if (from === null || content === null) {
      return this.#skip("invalid row", index, "username or content is not text");
    }
    let channel: string;
    try {
      // NULL and "" are the default channel, as for a live message without "channel".
      channel = parseChannel(row.channel === "" ? null : row.channel).name;
    } catch (err) {
      return this.#skip(
        "invalid channel",
        index,
        `channel ${quote(row.channel)}: ${(err as Error).message}`,
      );
    }
    const ts = parseOldTimestamp(row.timestamp);
    if (ts === undefined) {
      return this.#skip("invalid timestamp", index, `timestamp ${quote(row.timestamp)}`);
    }
    // The original row, as it is in the old file: the import key of its first occurrence.
    const original = COLUMNS.map((c) => typeof row[c] === "bigint" ? String(row[c]) : row[c]);
    return { from, content, channel, ts, importKey: await sha256Hex(JSON.stringify(original)) };
  }

  #skip(reason: string, index: number, detail: string): undefined {
    this.tally.skip(reason);
    // Never the content (STYLE.md: no message contents in logs).
    if (++this.#warnings <= MAX_ROW_WARNINGS) warn(`skipped message row ${index}: ${detail}`);
    return undefined;
  }
}

/** The server's retention in days as its environment sets it, or undefined when off or unknown. */
function retentionDays(): number | undefined {
  try {
    const parsed = parseConfig([], {
      CLASSCORD_RETENTION_DAYS: Deno.env.get("CLASSCORD_RETENTION_DAYS"),
    });
    return parsed.help ? undefined : parsed.config.retentionDays || undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        users: { type: "string" },
        messages: { type: "string" },
        db: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see --help)`);
  }
  if (values.help) {
    console.log(USAGE.trimEnd());
    return 0;
  }
  for (const flag of ["users", "messages", "db"] as const) {
    if (values[flag] === "") throw new UsageError(`--${flag} needs a file name`);
  }
  if (values.users === undefined && values.messages === undefined) {
    throw new UsageError("Nothing to import: give --users, --messages or both (see --help)");
  }

  // Both inputs are read and checked before anything is written.
  const users = values.users === undefined ? undefined : await readUsers(values.users);
  const db = values.messages === undefined ? undefined : openMessages(values.messages);
  let store: Store;
  try {
    store = await openStore(values.db);
  } catch (err) {
    db?.close();
    throw err;
  }
  let hasher: WorkerHasher | undefined;
  try {
    if (users) {
      hasher = new WorkerHasher({ params: DEFAULT_ARGON2 });
      const tally = await importUsers(store, users, hasher);
      console.log(tally.summary("users", "created"));
    }
    if (db) {
      const days = retentionDays();
      const job = new MessageImport(store, days);
      await job.run(db);
      console.log(job.tally.summary("messages", "imported"));
      if (job.old > 0) {
        warn(
          `${job.old} imported messages are older than ${days} days: the server deletes them at ` +
            `its next start unless it runs with --retention-days 0 (or more days)`,
        );
      }
    }
  } catch (err) {
    throw new Error(`Cannot import into "${dbPath(values.db)}": ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    hasher?.close();
    db?.close();
    store.close();
  }
  return 0;
}

if (import.meta.main) await run("import", () => main(Deno.args));
