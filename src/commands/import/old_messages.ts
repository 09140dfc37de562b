// The old export script's SQLite file: its messages table, rows as they are, and its timestamps.
import { DatabaseSync } from "node:sqlite";
import { errorReason } from "../cli.ts";

/** The columns of the old table `messages`, in the order they are read. */
export const COLUMNS = ["username", "channel", "content", "timestamp"] as const;

/** A row of the old export: SQLite values as node:sqlite returns them. */
export type OldRow = Record<(typeof COLUMNS)[number], unknown>;

// Before the Unix epoch, an old timestamp is a placeholder ("0001-01-01 00:00:00"), not a date.
const MIN_YEAR = 1970;

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
    throw fail(errorReason(err), err);
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

/**
 * Every row of an opened old export, in table order (rowid order for an ordinary table): the
 * order the old server wrote them.
 */
export function oldRows(db: DatabaseSync): Iterable<OldRow> {
  return db.prepare(`SELECT ${COLUMNS.join(", ")} FROM messages`).iterate() as Iterable<OldRow>;
}

/** How many rows an opened old export holds (for a progress bar). */
export function countRows(db: DatabaseSync): number {
  const row = db.prepare("SELECT count(*) AS n FROM messages").get();
  return Number(row?.n ?? 0);
}
