// Migration from the old Python server in one command: its users.pkl (plaintext passwords, hashed
// here with argon2id) and its export script's SQLite messages, both idempotent. The old files are
// read by import/pickle.ts and import/old_messages.ts.
import type { DatabaseSync } from "node:sqlite";
import { checkName, nameKey } from "../auth/names.ts";
import { DEFAULT_ARGON2, type PasswordHasher, WorkerHasher } from "../auth/password.ts";
import { DEFAULT_DB, parseConfig } from "../config.ts";
import { parseChannel } from "../protocol/channel.ts";
import { formatTimestamp, forwardedMessage } from "../protocol/replies.ts";
import type { KvStore } from "../store/kv_store.ts";
import type { AccountStore, Append, MessageAppender, MessageStore } from "../store/store.ts";
import {
  dbPath,
  parseFlags,
  plural,
  type Progress,
  quote,
  resolvePath,
  terminalProgress,
  UsageError,
  writeStore,
} from "./cli.ts";
import {
  COLUMNS,
  countRows,
  type OldRow,
  oldRows,
  openMessages,
  parseOldTimestamp,
} from "./import/old_messages.ts";
import { readUsers } from "./import/pickle.ts";
import { refuseNodeStore } from "./node_store.ts";

const USAGE =
  `Imports an old ClassCord (Python) deployment into the server's store. Stop the server first.

Usage: deno task import [--users users.pkl] [--messages classcord.db] [--db file.kv]

  --users <file>      the old server's pickle: a dict of name -> password (hashed with argon2id)
  --messages <file>   the old export script's SQLite file: messages(username, channel, content,
                      timestamp)
  --db <file>         the store to import into (env CLASSCORD_DB, default ${DEFAULT_DB})
  -h, --help          show this help

At least one of --users and --messages. Running it again imports nothing twice.
On a terminal, a progress bar shows the accounts hashed (about 0.1 s each) and the messages read.
`;

// 1..1024 bytes, as register and login accept (docs/protocol.md §9): a longer password could never
// log in.
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

const encoder = new TextEncoder();

/** Counts of one part of the import, and why entries were skipped. */
class Tally {
  done = 0;
  present = 0;
  readonly skipped = new Map<string, number>();

  skip(reason: string): void {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1);
  }

  /** `users: 4 created, 0 already present, 3 skipped (1 invalid name, 2 invalid passwords)` */
  summary(part: string, verb: string): string {
    const total = [...this.skipped.values()].reduce((a, b) => a + b, 0);
    const reasons = [...this.skipped].map(([reason, n]) => plural(n, reason)).join(", ");
    return `${part}: ${this.done} ${verb}, ${this.present} already present, ${total} skipped` +
      (total > 0 ? ` (${reasons})` : "");
  }
}

function warn(text: string): void {
  console.error(`import: ${text}`);
}

// ---------------------------------------------------------------------------------------------
// Users

/**
 * Creates each valid account that does not exist yet, hashing its password with argon2id (with
 * a progress bar on a terminal: 600 accounts take about 35 s).
 */
async function importUsers(
  store: AccountStore,
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
  const progress = await terminalProgress(() => todo.length, { label: "users" });
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const { name, password } = todo[next++];
      // An existing account is left untouched, and costs no hash.
      if (await store.getUser(name)) {
        tally.present++;
      } else {
        const passwordHash = await hasher.hash(password);
        if (await store.createUser({ name, passwordHash, createdAt: Date.now() })) tally.done++;
        else tally.present++;
      }
      progress?.tick();
    }
  };
  try {
    await Promise.all(Array.from({ length: HASH_CONCURRENCY }, worker));
  } finally {
    progress?.end();
  }
  return tally;
}

// ---------------------------------------------------------------------------------------------
// Messages

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
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
  readonly #store: MessageAppender & Pick<MessageStore, "lastSeq" | "knownImports">;
  readonly #retentionStart: number | undefined;
  #seq = 0;
  #row = 0;
  #warnings = 0;
  #progress: Progress | undefined;
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

  constructor(
    store: MessageAppender & Pick<MessageStore, "lastSeq" | "knownImports">,
    retentionDays: number | undefined,
  ) {
    this.#store = store;
    this.#retentionStart = retentionDays ? Date.now() - retentionDays * DAY_MS : undefined;
  }

  async run(db: DatabaseSync): Promise<void> {
    this.#seq = await this.#store.lastSeq();
    this.#progress = await terminalProgress(() => countRows(db), { label: "messages" });
    try {
      // In table order, the order the old server wrote them, so seqs follow it; history is
      // ordered by timestamp whatever the seqs.
      let batch: OldRow[] = [];
      for (const row of oldRows(db)) {
        batch.push(row);
        if (batch.length === MESSAGE_BATCH) {
          await this.#batch(batch);
          batch = [];
        }
      }
      await this.#batch(batch);
    } finally {
      this.#progress?.end();
      this.#progress = undefined;
    }
    const unlisted = this.#warnings - MAX_ROW_WARNINGS;
    if (unlisted > 0) {
      warn(`${plural(unlisted, "more skipped row")} not listed`);
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
    this.#progress?.tick(rows.length);
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
    // Never the content (docs/protocol.md §5.13: no message contents in logs).
    if (++this.#warnings > MAX_ROW_WARNINGS) return undefined;
    const text = `skipped message row ${index}: ${detail}`;
    // Above the progress bar, when there is one.
    if (this.#progress) this.#progress.line(`import: ${text}`);
    else warn(text);
    return undefined;
  }
}

/** The server's retention in days as its environment sets it, or undefined when off or unknown. */
function retentionDays(): number | undefined {
  try {
    const parsed = parseConfig([], {
      CLASSCORD_RETENTION_DAYS: Deno.env.get("CLASSCORD_RETENTION_DAYS"),
    });
    return parsed.retentionDays || undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------

/** `classcord import`: resolves with the exit code. */
export async function importCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    users: { type: "string" },
    messages: { type: "string" },
    db: { type: "string" },
  });
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
  const users = values.users === undefined ? undefined : await readUsers(resolvePath(values.users));
  const db = values.messages === undefined ? undefined : openMessages(resolvePath(values.messages));
  let store: KvStore & AsyncDisposable;
  try {
    // Held until the end: a running server numbers messages on its own, and would collide.
    const opened = await writeStore(values.db, "import", { create: true });
    // Accounts written into a cluster node's copy would be read by nobody.
    await refuseNodeStore(opened, dbPath(values.db), "import into a single server's store")
      .catch(async (err) => {
        await opened[Symbol.asyncDispose]();
        throw err;
      });
    store = opened;
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
        const are = job.old === 1 ? "is" : "are";
        const them = job.old === 1 ? "it" : "them";
        warn(
          `${plural(job.old, "imported message")} ${are} older than ${plural(days!, "day")}: ` +
            `the server deletes ${them} at its next start unless it runs with ` +
            `--retention-days 0 (or more days)`,
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
    await store[Symbol.asyncDispose]();
  }
  return 0;
}
