// The backup file format: writing its lines, and reading a file back with every check.
//
// One JSON object per line, each ending with LF:
//   {"classcord_backup":1,"created":"<ISO 8601>"}   header
//   {"key":[...],"value":...}                        one line per entry, in key order
//   {"entries":N,"sha256":"<hex>"}                   trailer: count and SHA-256 of the entry lines
// A file without its trailer, or whose trailer does not match, is refused as truncated or
// damaged. Keys and values are JSON as codec.ts encodes them.
import { createHash } from "node:crypto";
import { concatBytes } from "../../bytes.ts";
import { plural } from "../cli.ts";
import { decodeKey, decodeValue, encodeKey, encodeValue, type Json } from "./codec.ts";

/** Version written in (and accepted from) the header line. */
export const FORMAT_VERSION = 1;

// An entry line holds at most a 64 KiB value; JSON escapes (\uXXXX) can make it 6 times longer.
const MAX_LINE_BYTES = 8 * 1024 * 1024;
// Output is written in chunks of this size.
const WRITE_CHUNK = 64 * 1024;
// Input is read in chunks of this size.
const READ_CHUNK = 256 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** What a backup file says of itself, once checked. */
export interface BackupSummary {
  created: string;
  entries: number;
}

/**
 * The line of one entry, without its LF.
 *
 * @throws {TypeError} for a key or value that {@link encodeValue} cannot encode
 */
export function entryLine(key: Deno.KvKey, value: unknown): string {
  return JSON.stringify({ key: encodeKey(key), value: encodeValue(value) });
}

/**
 * Writes a backup file to a file or stdout, in large chunks: {@link BackupWriter.header}, an
 * {@link BackupWriter.entry} per entry, then {@link BackupWriter.end}.
 */
export class BackupWriter {
  readonly #out: { write(p: Uint8Array): Promise<number> };
  readonly #hash = createHash("sha256");
  #chunks: Uint8Array[] = [];
  #size = 0;
  #entries = 0;

  constructor(out: { write(p: Uint8Array): Promise<number> }) {
    this.#out = out;
  }

  /** Writes the header line of a backup created at `created`. */
  async header(created: Date): Promise<void> {
    const header = { classcord_backup: FORMAT_VERSION, created: created.toISOString() };
    await this.#line(JSON.stringify(header), false);
  }

  /** Writes an entry line made by {@link entryLine}. */
  async entry(line: string): Promise<void> {
    await this.#line(line, true);
    this.#entries++;
  }

  /** Writes the trailer and everything still buffered; returns the entry count. */
  async end(): Promise<number> {
    const trailer = { entries: this.#entries, sha256: this.#hash.digest("hex") };
    await this.#line(JSON.stringify(trailer), false);
    await this.#flush();
    return this.#entries;
  }

  async #line(text: string, hashed: boolean): Promise<void> {
    const bytes = encoder.encode(text + "\n");
    if (hashed) this.#hash.update(bytes);
    this.#chunks.push(bytes);
    this.#size += bytes.length;
    if (this.#size >= WRITE_CHUNK) await this.#flush();
  }

  async #flush(): Promise<void> {
    const all = concatBytes(this.#chunks);
    this.#chunks = [];
    this.#size = 0;
    for (let done = 0; done < all.length;) done += await this.#out.write(all.subarray(done));
  }
}

/**
 * Where a backup is read from: a file's path, or an open reader (stdin, an open file) read from
 * where it stands to its end, and left open.
 */
export type BackupSource = string | { read(p: Uint8Array): Promise<number | null> };

/** A line of a backup file: its 1-based number and bytes (without LF). */
interface Line {
  n: number;
  bytes: Uint8Array;
}

/**
 * The lines of a backup, read in chunks.
 *
 * @throws {SyntaxError} when the last line has no LF (the file was cut) or a line is too long
 */
async function* readLines(source: BackupSource): AsyncGenerator<Line> {
  // A path is opened (and closed) here; a reader belongs to the caller.
  using opened = typeof source === "string" ? await Deno.open(source) : undefined;
  const file = opened ?? (source as Exclude<BackupSource, string>);
  const buf = new Uint8Array(READ_CHUNK);
  let pending: Uint8Array[] = [];
  let pendingSize = 0;
  let n = 0;
  for (;;) {
    const read = await file.read(buf);
    if (read === null) break;
    let chunk = buf.subarray(0, read);
    for (let lf = chunk.indexOf(0x0a); lf >= 0; lf = chunk.indexOf(0x0a)) {
      const end = chunk.subarray(0, lf);
      // Always a copy: buf is read into again.
      const bytes = pending.length === 0 ? end.slice() : concatBytes([...pending, end]);
      pending = [];
      pendingSize = 0;
      chunk = chunk.subarray(lf + 1);
      yield { n: ++n, bytes };
    }
    if (chunk.length > 0) {
      pending.push(chunk.slice());
      pendingSize += chunk.length;
      if (pendingSize > MAX_LINE_BYTES) {
        throw new SyntaxError(`line ${n + 1} is longer than ${MAX_LINE_BYTES} bytes`);
      }
    }
  }
  if (pendingSize > 0) {
    throw new SyntaxError(`line ${n + 1} has no end: the file is truncated`);
  }
}

function parseLine(line: Line): Json {
  let text: string;
  try {
    text = decoder.decode(line.bytes);
  } catch {
    throw new SyntaxError(`line ${line.n} is not UTF-8 text`);
  }
  try {
    return JSON.parse(text);
  } catch {
    // Not the parser's own words ("Unexpected token..."): they quote the line, which may be long.
    throw new SyntaxError(`line ${line.n} is not valid JSON`);
  }
}

function isObject(json: Json): json is { [key: string]: Json } {
  return json !== null && typeof json === "object" && !Array.isArray(json);
}

function parseHeader(line: Line | undefined): string {
  if (line === undefined) throw new SyntaxError("the file is empty");
  let json: Json;
  try {
    json = parseLine(line);
  } catch {
    throw new SyntaxError("not a ClassCord backup (no header line)");
  }
  if (!isObject(json) || !("classcord_backup" in json)) {
    throw new SyntaxError("not a ClassCord backup (no header line)");
  }
  if (json.classcord_backup !== FORMAT_VERSION) {
    throw new SyntaxError(`unsupported backup version ${JSON.stringify(json.classcord_backup)}`);
  }
  if (typeof json.created !== "string") throw new SyntaxError(`header has no "created" time`);
  return json.created;
}

/** An entry line, decoded; a line without "key" is returned as the (presumed) trailer. */
function parseEntry(line: Line): { key: Deno.KvKey; value: unknown } | { trailer: Json } {
  const json = parseLine(line);
  if (!isObject(json)) throw new SyntaxError(`line ${line.n}: not an object`);
  if (!("key" in json)) return { trailer: json };
  const keys = Object.keys(json);
  if (keys.length !== 2 || !("value" in json)) {
    throw new SyntaxError(`line ${line.n}: an entry has exactly "key" and "value"`);
  }
  try {
    return { key: decodeKey(json.key), value: decodeValue(json.value) };
  } catch (err) {
    throw new SyntaxError(`line ${line.n}: ${(err as Error).message}`);
  }
}

/**
 * Reads a backup through and calls `each` with every entry, decoded, and the length of its
 * line. Checks the header, every entry, and that the trailer is last and matches.
 *
 * @throws {SyntaxError} `reason` when the file is not a complete, intact backup; the errors of
 * reading it otherwise (Deno.errors.NotFound...)
 */
export async function readBackup(
  source: BackupSource,
  each?: (key: Deno.KvKey, value: unknown, lineBytes: number) => Promise<void>,
): Promise<BackupSummary> {
  const lines = readLines(source);
  const hash = createHash("sha256");
  let created: string;
  let entries = 0;
  let trailer: { line: Line; json: Json } | undefined;
  try {
    const first = await lines.next();
    created = parseHeader(first.done ? undefined : first.value);
    for await (const line of lines) {
      if (trailer) throw new SyntaxError(`line ${line.n}: nothing may follow the trailer`);
      const entry = parseEntry(line);
      if ("trailer" in entry) {
        trailer = { line, json: entry.trailer };
        continue;
      }
      hash.update(line.bytes);
      hash.update("\n");
      entries++;
      if (each) await each(entry.key, entry.value, line.bytes.length);
    }
  } finally {
    await lines.return(undefined);
  }
  if (!trailer) {
    throw new SyntaxError(
      `no trailer after ${plural(entries, "entry", "entries")}: the file is truncated`,
    );
  }
  const t = trailer.json;
  if (!isObject(t) || typeof t.entries !== "number" || typeof t.sha256 !== "string") {
    throw new SyntaxError(`line ${trailer.line.n}: not an entry nor a trailer`);
  }
  if (t.entries !== entries) {
    throw new SyntaxError(
      `the trailer announces ${plural(t.entries, "entry", "entries")} but the file has ${entries}`,
    );
  }
  if (t.sha256 !== hash.digest("hex")) {
    throw new SyntaxError("the entries do not match the trailer's SHA-256: the file is damaged");
  }
  return { created, entries };
}

/**
 * Checks a backup through without writing anything: the header, every entry, the trailer's count
 * and SHA-256 (what restore checks before it writes, and `backup --check`).
 *
 * @throws as {@link readBackup}
 */
export async function checkBackup(source: BackupSource): Promise<BackupSummary> {
  return await readBackup(source);
}
