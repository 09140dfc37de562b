// Backup and restore: a consistent dump of the whole KV store to one NDJSON file, and back.
//
// File format, one JSON object per line, each ending with LF:
//   {"classcord_backup":1,"created":"<ISO 8601>"}   header
//   {"key":[...],"value":...}                        one line per entry, in key order
//   {"entries":N,"sha256":"<hex>"}                   trailer: count and SHA-256 of the entry lines
// A file without its trailer, or whose trailer does not match, is refused as truncated or
// damaged. What JSON cannot hold is a tagged object {"$":"<tag>",...} (see encodeValue).
//
// Consistency: Deno KV's list() reads in batches, each its own transaction, so a dump taken
// while the server writes could mix states (a message without its index, an inbox entry without
// its message). The dump therefore reads a snapshot: SQLite's online backup API copies the KV
// file (WAL mode) in one step, hence in one read transaction, into a temporary file, which is
// then listed with Deno.openKv. VACUUM INTO would do the same, but Deno's node:sqlite refuses
// it without --allow-all (it caps ATTACH at 0, and VACUUM INTO attaches).
import { createHash, type Hash } from "node:crypto";
import { backup as sqliteBackup, DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { KvStore } from "../src/store/kv_store.ts";
import { dbPath, run, UsageError } from "./cli.ts";

/** Version written in (and accepted from) the header line. */
export const FORMAT_VERSION = 1;

// Deno KV's limits per atomic commit are 1000 mutations, 800 KiB of keys and values, and
// 80 KiB of keys (ext/kv, checked in Deno 2.9.6). Sizes are estimated from above with a
// margin, and a commit that still fails is split in halves.
const COMMIT_MUTATIONS = 1000;
const COMMIT_BYTES = 600_000;
const COMMIT_KEY_BYTES = 60_000;
// An entry line holds at most a 64 KiB value; JSON escapes (\uXXXX) can make it 6 times longer.
const MAX_LINE_BYTES = 8 * 1024 * 1024;
// Output is written in chunks of this size.
const WRITE_CHUNK = 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const TYPED_ARRAYS = [
  "Int8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float16Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
];

const ERRORS: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/**
 * Encodes a value Deno KV can hold as JSON, losslessly. JSON values stay as they are, except:
 * `{"$":"undefined"}`, `{"$":"number","v":"NaN"|"Infinity"|"-Infinity"|"-0"}`,
 * `{"$":"bigint","v":"<decimal>"}`, `{"$":"u64","v":"<decimal>"}` (Deno.KvU64),
 * `{"$":"bytes","v":"<base64>"}` (Uint8Array), `{"$":"typed","type":"Int16Array","v":"<base64>"}`,
 * `{"$":"arraybuffer","v":...}`, `{"$":"dataview","v":...}`, `{"$":"date","v":<ms>}`,
 * `{"$":"regexp","source":...,"flags":...}`, `{"$":"map","v":[[k,v],...]}`, `{"$":"set","v":[...]}`,
 * `{"$":"error","name":...,"message":...}`, `{"$":"boxed","v":...}` (new String("x")),
 * `{"$":"hole"}` (a missing array element), and `{"$":"object","v":{...}}` for an object that
 * has a "$" property of its own.
 *
 * @throws {TypeError} for what Deno KV cannot store either (functions, class instances) and cycles
 */
export function encodeValue(value: unknown): Json {
  return encode(value, new Set());
}

function encode(value: unknown, path: Set<object>): Json {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return encodeNumber(value);
    case "bigint":
      return { $: "bigint", v: value.toString() };
    case "undefined":
      return { $: "undefined" };
    case "object":
      break;
    default:
      throw new TypeError(`Cannot encode a value of type "${typeof value}"`);
  }
  if (value === null) return null;
  if (path.has(value)) throw new TypeError("Cannot encode a value that contains itself");
  path.add(value);
  try {
    return encodeObject(value, path);
  } finally {
    path.delete(value);
  }
}

function encodeNumber(n: number): Json {
  if (Number.isFinite(n) && !Object.is(n, -0)) return n;
  return { $: "number", v: Object.is(n, -0) ? "-0" : String(n) };
}

function encodeObject(value: object, path: Set<object>): Json {
  if (value instanceof Deno.KvU64) return { $: "u64", v: value.value.toString() };
  if (Array.isArray(value)) {
    const out: Json[] = [];
    for (let i = 0; i < value.length; i++) {
      out.push(i in value ? encode(value[i], path) : { $: "hole" });
    }
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) define(out, k, encode(v, path));
    return "$" in out ? { $: "object", v: out } : out;
  }
  const kind = Object.prototype.toString.call(value).slice(8, -1);
  if (value instanceof Uint8Array && kind === "Uint8Array") {
    return { $: "bytes", v: value.toBase64() };
  }
  if (ArrayBuffer.isView(value)) {
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength).toBase64();
    if (value instanceof DataView) return { $: "dataview", v: bytes };
    if (TYPED_ARRAYS.includes(kind)) return { $: "typed", type: kind, v: bytes };
  }
  if (value instanceof ArrayBuffer) {
    return { $: "arraybuffer", v: new Uint8Array(value).toBase64() };
  }
  if (value instanceof Date) return { $: "date", v: encodeNumber(value.getTime()) };
  if (value instanceof RegExp) return { $: "regexp", source: value.source, flags: value.flags };
  if (value instanceof Map) {
    return { $: "map", v: [...value].map(([k, v]) => [encode(k, path), encode(v, path)]) };
  }
  if (value instanceof Set) return { $: "set", v: [...value].map((v) => encode(v, path)) };
  if (value instanceof Error) {
    const out: { [key: string]: Json } = { $: "error", name: value.name, message: value.message };
    if (typeof value.stack === "string") out.stack = value.stack;
    if ("cause" in value) out.cause = encode(value.cause, path);
    return out;
  }
  if (
    value instanceof String || value instanceof Number || value instanceof Boolean ||
    value instanceof BigInt
  ) {
    return { $: "boxed", v: encode(value.valueOf(), path) };
  }
  throw new TypeError(`Cannot encode an object of type "${kind}"`);
}

/** Sets a property, even one named "__proto__", as JSON.parse would. */
function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

/**
 * Decodes what {@link encodeValue} produced.
 *
 * @throws {SyntaxError} for an unknown or malformed tagged object
 */
export function decodeValue(json: Json): unknown {
  if (json === null || typeof json !== "object") return json;
  if (Array.isArray(json)) {
    // Built by map(), not by setting a length first: V8 then keeps the array packed, which it
    // serializes densely (a holey array takes an index per element, and could outgrow the
    // 64 KiB a value may have).
    const holes: number[] = [];
    const out = json.map((item, i) => {
      if (!isTag(item, "hole")) return decodeValue(item);
      holes.push(i);
      return undefined;
    });
    for (const i of holes) delete out[i];
    return out;
  }
  if (!("$" in json)) {
    const out = {};
    for (const [k, v] of Object.entries(json)) define(out, k, decodeValue(v));
    return out;
  }
  return decodeTagged(json);
}

function isTag(json: Json, tag: string): boolean {
  return json !== null && typeof json === "object" && !Array.isArray(json) && json.$ === tag &&
    Object.keys(json).length === 1;
}

function decodeTagged(json: { [key: string]: Json }): unknown {
  const tag = json.$;
  const field = <T extends string | number | object>(name: string, type: string): T => {
    const v = json[name];
    const actual = Array.isArray(v) ? "array" : v === null ? "null" : typeof v;
    if (actual !== type) throw new SyntaxError(`Tagged "${tag}" needs "${name}" as ${type}`);
    return v as T;
  };
  const only = (...names: string[]) => {
    for (const k of Object.keys(json)) {
      if (k !== "$" && !names.includes(k)) {
        throw new SyntaxError(`Tagged "${tag}" has an unknown field "${k}"`);
      }
    }
  };
  switch (tag) {
    case "undefined":
      only();
      return undefined;
    case "hole":
      throw new SyntaxError(`Tagged "hole" outside an array`);
    case "number":
      only("v");
      return decodeNumber(json.v);
    case "bigint":
      only("v");
      return BigInt(integer(field("v", "string")));
    case "u64":
      only("v");
      return new Deno.KvU64(BigInt(integer(field("v", "string"))));
    case "bytes":
      only("v");
      return base64(field("v", "string"));
    case "typed": {
      only("type", "v");
      const type = field<string>("type", "string");
      const ctor = (globalThis as Record<string, unknown>)[type];
      if (!TYPED_ARRAYS.includes(type) || typeof ctor !== "function") {
        throw new SyntaxError(`Unknown typed array "${type}"`);
      }
      const bytes = base64(field("v", "string"));
      const size = (ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
      if (bytes.length % size !== 0) throw new SyntaxError(`Bad length for "${type}"`);
      return new (ctor as new (b: ArrayBuffer) => unknown)(bytes.buffer as ArrayBuffer);
    }
    case "arraybuffer":
      only("v");
      return base64(field("v", "string")).buffer;
    case "dataview":
      only("v");
      return new DataView(base64(field("v", "string")).buffer);
    case "date": {
      only("v");
      const ms = decodeValue(json.v); // a number, or a tagged NaN for an invalid date
      if (typeof ms !== "number") throw new SyntaxError(`Tagged "date" needs a number`);
      return new Date(ms);
    }
    case "regexp":
      only("source", "flags");
      return new RegExp(field("source", "string"), field("flags", "string"));
    case "map":
      only("v");
      return new Map(
        field<Json[]>("v", "array").map((pair) => {
          if (!Array.isArray(pair) || pair.length !== 2) {
            throw new SyntaxError(`Tagged "map" needs [key, value] pairs`);
          }
          return [decodeValue(pair[0]), decodeValue(pair[1])];
        }),
      );
    case "set":
      only("v");
      return new Set(field<Json[]>("v", "array").map(decodeValue));
    case "error": {
      only("name", "message", "stack", "cause");
      const name = field<string>("name", "string");
      const err = new (ERRORS[name] ?? Error)(field("message", "string"));
      if (!(name in ERRORS)) err.name = name;
      if ("stack" in json) {
        Object.defineProperty(err, "stack", {
          value: field("stack", "string"),
          writable: true,
          configurable: true,
        });
      }
      if ("cause" in json) err.cause = decodeValue(json.cause);
      return err;
    }
    case "boxed": {
      only("v");
      const inner = decodeValue(json.v);
      if (!["string", "number", "boolean", "bigint"].includes(typeof inner)) {
        throw new SyntaxError(`Tagged "boxed" needs a string, number, boolean or bigint`);
      }
      return Object(inner);
    }
    case "object": {
      only("v");
      const v = field<{ [key: string]: Json }>("v", "object");
      const out = {};
      for (const [k, item] of Object.entries(v)) define(out, k, decodeValue(item));
      return out;
    }
    default:
      throw new SyntaxError(`Unknown tag ${JSON.stringify(tag)}`);
  }
}

function decodeNumber(json: Json | undefined): number {
  if (typeof json === "number") return json;
  switch (json) {
    case "NaN":
      return NaN;
    case "Infinity":
      return Infinity;
    case "-Infinity":
      return -Infinity;
    case "-0":
      return -0;
  }
  throw new SyntaxError(`Bad number ${JSON.stringify(json)}`);
}

function integer(text: string): string {
  if (!/^-?\d+$/.test(text)) throw new SyntaxError(`Bad integer "${text}"`);
  return text;
}

function base64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.fromBase64(text, { lastChunkHandling: "strict" });
}

/** Encodes a KV key: each part as {@link encodeValue} does. */
export function encodeKey(key: Deno.KvKey): Json[] {
  return key.map((part) => encodeValue(part));
}

/**
 * Decodes a key, checking that every part is one Deno KV accepts.
 *
 * @throws {SyntaxError} for anything else
 */
export function decodeKey(json: Json): Deno.KvKey {
  if (!Array.isArray(json) || json.length === 0) {
    throw new SyntaxError(`"key" must be a non-empty array`);
  }
  return json.map((part) => {
    const v = decodeValue(part);
    if (
      typeof v === "string" || typeof v === "number" || typeof v === "bigint" ||
      typeof v === "boolean" || v instanceof Uint8Array
    ) {
      return v as Deno.KvKeyPart;
    }
    throw new SyntaxError(`A key part must be a string, number, bigint, boolean or Uint8Array`);
  });
}

// ---------------------------------------------------------------------------------------------
// Backup

/** The header line of a backup created at `date`. */
function headerLine(date: Date): string {
  return JSON.stringify({ classcord_backup: FORMAT_VERSION, created: date.toISOString() });
}

/** `classcord_backup_YYYYMMDD-HHMMSS.ndjson`, in local time. */
export function defaultBackupName(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const day = `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}`;
  const time = `${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
  return `classcord_backup_${day}-${time}.ndjson`;
}

/** Writes lines in large chunks to a file or stdout, hashing the ones it is told to. */
class LineWriter {
  readonly #out: { write(p: Uint8Array): Promise<number> };
  readonly hash: Hash = createHash("sha256");
  #chunks: Uint8Array[] = [];
  #size = 0;

  constructor(out: { write(p: Uint8Array): Promise<number> }) {
    this.#out = out;
  }

  async line(text: string, hashed: boolean): Promise<void> {
    const bytes = encoder.encode(text + "\n");
    if (hashed) this.hash.update(bytes);
    this.#chunks.push(bytes);
    this.#size += bytes.length;
    if (this.#size >= WRITE_CHUNK) await this.flush();
  }

  async flush(): Promise<void> {
    const all = new Uint8Array(this.#size);
    let offset = 0;
    for (const c of this.#chunks) {
      all.set(c, offset);
      offset += c.length;
    }
    this.#chunks = [];
    this.#size = 0;
    for (let done = 0; done < all.length;) done += await this.#out.write(all.subarray(done));
  }
}

/**
 * Copies the KV file at `db` into `copy` as of one instant, while other processes may be
 * writing to it.
 *
 * @throws {Error} `Cannot back up "db": reason`
 */
export async function snapshot(db: string, copy: string): Promise<void> {
  const fail = (reason: string, cause?: unknown) =>
    new Error(`Cannot back up "${db}": ${reason}`, { cause });
  if (db === ":memory:" || /^[a-z][a-z0-9+.-]*:\/\//i.test(db)) {
    throw new UsageError(`Cannot back up "${db}": not a local KV file`);
  }
  try {
    if (!(await Deno.stat(db)).isFile) throw fail("not a file");
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw fail("no such file");
    throw err instanceof Deno.errors.PermissionDenied ? fail("permission denied", err) : err;
  }
  let source: DatabaseSync | undefined;
  try {
    // Read-only: the backup can never change the live database.
    source = new DatabaseSync(db, { readOnly: true });
    const table = source.prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kv'",
    ).get();
    if (!table) throw fail("not a Deno KV file");
    // rate -1 copies every page in one step, that is in one read transaction: a snapshot that
    // writers (in WAL mode) neither wait for nor change.
    await sqliteBackup(source, copy, { rate: -1 });
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("Cannot back up")) throw err;
    throw fail((err as Error).message, err);
  } finally {
    source?.close();
  }
}

/**
 * Rows of a snapshot, read with SQL to check what list() returns: all entries, those with an
 * expiry (list() hides expired ones), and queued messages (kv.enqueue, which list() never shows).
 */
function countRows(copy: string): { total: number; expiring: number; queued: number } {
  const db = new DatabaseSync(copy, { readOnly: true });
  const count = (sql: string, fallback: number) => {
    try {
      return Number((db.prepare(sql).get() as { n: number | bigint }).n);
    } catch {
      return fallback; // A KV schema without that column or table: nothing of the kind.
    }
  };
  try {
    return {
      total: count("SELECT count(*) AS n FROM kv", NaN),
      expiring: count("SELECT count(*) AS n FROM kv WHERE expiration_ms >= 0", 0),
      queued: count(
        "SELECT (SELECT count(*) FROM queue) + (SELECT count(*) FROM queue_running) AS n",
        0,
      ),
    };
  } finally {
    db.close();
  }
}

/**
 * Dumps every entry of the KV file `db` to `out` ("-" for stdout), through a `.partial` file
 * renamed at the end; returns the entry count. `now` is the time the header gives.
 *
 * @throws {Error} `Cannot back up "db": reason` or `Cannot write "out": reason`
 */
export async function backupTo(
  db: string,
  out: string,
  options: { now?: Date } = {},
): Promise<number> {
  const now = options.now ?? new Date();
  const dir = await Deno.makeTempDir({ prefix: "classcord_backup_" });
  try {
    const copy = `${dir}/snapshot.kv`;
    await snapshot(db, copy);
    const rows = countRows(copy);
    if (rows.expiring > 0) {
      console.error(
        `backup: warning: ${rows.expiring} entries have an expiry time, which is not kept`,
      );
    }
    if (rows.queued > 0) {
      console.error(`backup: warning: ${rows.queued} queued messages (kv.enqueue) are not kept`);
    }
    const partial = out === "-" ? undefined : `${out}.partial`;
    let file: Deno.FsFile | undefined;
    try {
      if (partial) file = await Deno.open(partial, { write: true, create: true, truncate: true });
    } catch (err) {
      throw new Error(`Cannot write "${out}": ${(err as Error).message}`, { cause: err });
    }
    try {
      const writer = new LineWriter(file ?? Deno.stdout);
      await writer.line(headerLine(now), false);
      let entries = 0;
      const kv = await Deno.openKv(copy);
      try {
        for await (const e of kv.list({ prefix: [] })) {
          let line: string;
          try {
            line = JSON.stringify({ key: encodeKey(e.key), value: encodeValue(e.value) });
          } catch (err) {
            throw new Error(
              `Cannot back up "${db}": key ${describeKey(e.key)}: ${(err as Error).message}`,
            );
          }
          await writer.line(line, true);
          entries++;
        }
      } finally {
        kv.close();
      }
      // Every row of the snapshot was listed: nothing was skipped on the way.
      if (rows.expiring === 0 && entries !== rows.total) {
        throw new Error(
          `Cannot back up "${db}": the snapshot holds ${rows.total} entries but ${entries} were read`,
        );
      }
      const trailer = { entries, sha256: writer.hash.digest("hex") };
      await writer.line(JSON.stringify(trailer), false);
      await writer.flush();
      if (file && partial) {
        await file.sync();
        file.close();
        await Deno.rename(partial, out);
      }
      return entries;
    } catch (err) {
      if (file && partial) {
        try {
          file.close();
        } catch {
          // Already closed.
        }
        await Deno.remove(partial).catch(() => {});
      }
      throw err;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function describeKey(key: Deno.KvKey): string {
  try {
    return JSON.stringify(encodeKey(key));
  } catch {
    return "(unprintable)";
  }
}

// ---------------------------------------------------------------------------------------------
// Restore

/** What a backup file says of itself, once checked. */
export interface BackupSummary {
  created: string;
  entries: number;
}

/** A line of a backup file: its 1-based number and bytes (without LF). */
interface Line {
  n: number;
  bytes: Uint8Array;
}

/**
 * The lines of a file, read in chunks.
 *
 * @throws {SyntaxError} when the last line has no LF (the file was cut) or a line is too long
 */
async function* readLines(path: string): AsyncGenerator<Line> {
  using file = await Deno.open(path);
  const buf = new Uint8Array(256 * 1024);
  let pending: Uint8Array[] = [];
  let pendingSize = 0;
  let n = 0;
  for (;;) {
    const read = await file.read(buf);
    if (read === null) break;
    let chunk = buf.subarray(0, read);
    for (let lf = chunk.indexOf(0x0a); lf >= 0; lf = chunk.indexOf(0x0a)) {
      const bytes = new Uint8Array(pendingSize + lf);
      let offset = 0;
      for (const p of pending) {
        bytes.set(p, offset);
        offset += p.length;
      }
      bytes.set(chunk.subarray(0, lf), offset);
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
  try {
    return JSON.parse(decoder.decode(line.bytes));
  } catch (err) {
    throw new SyntaxError(`line ${line.n}: ${(err as Error).message}`);
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
 * Reads a backup file through and calls `each` with every entry, decoded, and the length of its
 * line. Checks the header, every entry, and that the trailer is last and matches.
 *
 * @throws {SyntaxError} `reason` when the file is not a complete, intact backup
 */
async function readBackup(
  path: string,
  each?: (key: Deno.KvKey, value: unknown, bytes: number) => Promise<void>,
): Promise<BackupSummary> {
  const lines = readLines(path);
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
    throw new SyntaxError(`no trailer after ${entries} entries: the file is truncated`);
  }
  const t = trailer.json;
  if (!isObject(t) || typeof t.entries !== "number" || typeof t.sha256 !== "string") {
    throw new SyntaxError(`line ${trailer.line.n}: not an entry nor a trailer`);
  }
  if (t.entries !== entries) {
    throw new SyntaxError(`the trailer announces ${t.entries} entries but the file has ${entries}`);
  }
  if (t.sha256 !== hash.digest("hex")) {
    throw new SyntaxError("the entries do not match the trailer's SHA-256: the file is damaged");
  }
  return { created, entries };
}

/** Checks a backup file without writing anything. */
export async function checkBackup(path: string): Promise<BackupSummary> {
  return await readBackup(path);
}

interface Mutation {
  key: Deno.KvKey;
  /** Absent: a delete. */
  value?: { v: unknown };
  bytes: number;
  keyBytes: number;
}

/** Groups mutations into atomic commits within Deno KV's limits. */
class Batcher {
  readonly #kv: Deno.Kv;
  #batch: Mutation[] = [];
  #bytes = 0;
  #keyBytes = 0;
  commits = 0;

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  async add(m: Mutation): Promise<void> {
    if (
      this.#batch.length + 1 > COMMIT_MUTATIONS || this.#bytes + m.bytes > COMMIT_BYTES ||
      this.#keyBytes + m.keyBytes > COMMIT_KEY_BYTES
    ) {
      await this.flush();
    }
    this.#batch.push(m);
    this.#bytes += m.bytes;
    this.#keyBytes += m.keyBytes;
  }

  async flush(): Promise<void> {
    const batch = this.#batch;
    this.#batch = [];
    this.#bytes = this.#keyBytes = 0;
    if (batch.length > 0) await this.#commit(batch);
  }

  async #commit(batch: Mutation[]): Promise<void> {
    const op = this.#kv.atomic();
    for (const m of batch) {
      if (m.value) op.set(m.key, m.value.v);
      else op.delete(m.key);
    }
    try {
      const result = await op.commit();
      if (!result.ok) throw new Error("commit refused");
      this.commits++;
    } catch (err) {
      if (batch.length === 1) {
        throw new Error(`key ${describeKey(batch[0].key)}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      // The estimates were too low for this batch (a size limit): halves fit.
      const half = Math.ceil(batch.length / 2);
      await this.#commit(batch.slice(0, half));
      await this.#commit(batch.slice(half));
    }
  }
}

/** An upper bound of a key's size in Deno KV's encoding (FoundationDB tuples). */
function keySize(key: Deno.KvKey): number {
  let n = 0;
  for (const part of key) {
    if (typeof part === "string") n += 2 * encoder.encode(part).length + 2;
    else if (part instanceof Uint8Array) n += 2 * part.length + 2;
    else if (typeof part === "bigint") n += part.toString(16).length + 4;
    else n += 10;
  }
  return n;
}

/** An upper bound of a value's size, from the length of its line (V8's serialization is denser). */
function valueSize(value: unknown, lineBytes: number): number {
  if (value instanceof Uint8Array) return value.length;
  if (value instanceof Deno.KvU64) return 8;
  return 2 * lineBytes + 64;
}

async function hasEntries(kv: Deno.Kv): Promise<boolean> {
  for await (const _ of kv.list({ prefix: [] }, { limit: 1 })) return true;
  return false;
}

/** Deletes every entry; returns how many. */
async function deleteAll(kv: Deno.Kv): Promise<number> {
  const batcher = new Batcher(kv);
  let deleted = 0;
  for (;;) {
    const keys: Deno.KvKey[] = [];
    for await (const e of kv.list({ prefix: [] }, { limit: 1000 })) keys.push(e.key);
    if (keys.length === 0) return deleted;
    for (const key of keys) {
      const size = keySize(key);
      await batcher.add({ key, bytes: size, keyBytes: size });
    }
    await batcher.flush();
    deleted += keys.length;
  }
}

/** Result of {@link restoreFrom}. */
export interface RestoreResult extends BackupSummary {
  /** Entries the target held before (deleted with `force`). */
  replaced: number;
}

/**
 * Loads a backup file into the KV file `db`: checks the whole file first, then writes it in
 * atomic batches. The server must not be running on `db`.
 *
 * @throws {Error} `Cannot restore "file": reason`, or the target has entries and not `force`
 */
export async function restoreFrom(
  file: string,
  db: string,
  options: { force?: boolean } = {},
): Promise<RestoreResult> {
  const fail = (err: unknown) => {
    if (err instanceof Deno.errors.NotFound) {
      return new Error(`Cannot restore "${file}": no such file`);
    }
    return new Error(`Cannot restore "${file}": ${(err as Error).message}`, { cause: err });
  };
  // First pass: nothing is written from a truncated or damaged file.
  let checked: BackupSummary;
  try {
    checked = await checkBackup(file);
  } catch (err) {
    throw fail(err);
  }
  const store = await KvStore.open(db);
  const kv = store.kv;
  try {
    let replaced = 0;
    if (await hasEntries(kv)) {
      if (!options.force) {
        throw new Error(
          `Cannot restore into "${db}": it already has entries (--force deletes them first)`,
        );
      }
      replaced = await deleteAll(kv);
    }
    const batcher = new Batcher(kv);
    let summary: BackupSummary;
    try {
      summary = await readBackup(file, async (key, value, lineBytes) => {
        const keyBytes = keySize(key);
        await batcher.add({
          key,
          value: { v: value },
          bytes: keyBytes + valueSize(value, lineBytes),
          keyBytes,
        });
      });
      await batcher.flush();
    } catch (err) {
      const e = fail(err);
      e.message += ` (after ${batcher.commits} commits: "${db}" is incomplete)`;
      throw e;
    }
    if (summary.entries !== checked.entries) {
      throw new Error(`Cannot restore "${file}": it changed while being restored`);
    }
    return { ...summary, replaced };
  } finally {
    store.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Command line

const HELP = `Consistent backup of the whole ClassCord store to one NDJSON file, and restore.

Usage:
  deno task backup [--db <file>] [--out <file>]
  deno task restore --in <file> [--db <file>] [--force]

backup (safe while the server runs: it reads one snapshot of the KV file)
  --out <file>   where to write; "-" for stdout
                 default classcord_backup_YYYYMMDD-HHMMSS.ndjson (local time)
  --db <file>    KV file; default CLASSCORD_DB, else ./data/classcord.kv

restore (stop the server first)
  --in <file>    backup to load; it is checked completely before anything is written
  --db <file>    KV file to fill; default CLASSCORD_DB, else ./data/classcord.kv
  --force        delete every entry of a KV file that is not empty first

  -h, --help     show this help
`;

function parse(args: string[], options: Record<string, { type: "string" | "boolean" }>) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see --help)`);
  }
}

async function main(command: string | undefined, args: string[]): Promise<number> {
  if (command === "-h" || command === "--help") {
    console.log(HELP);
    return 0;
  }
  if (command === "backup") {
    const values = parse(args, { db: { type: "string" }, out: { type: "string" } });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const db = dbPath(values.db as string | undefined);
    const now = new Date();
    const out = (values.out as string | undefined) ?? defaultBackupName(now);
    if (out === "") throw new UsageError("--out needs a file name, or - for stdout");
    const entries = await backupTo(db, out, { now });
    const summary = `backup: ${entries} entries from "${db}" to ${
      out === "-" ? "stdout" : `"${out}"`
    }`;
    if (out === "-") console.error(summary);
    else console.log(summary);
    return 0;
  }
  if (command === "restore") {
    const values = parse(args, {
      db: { type: "string" },
      in: { type: "string" },
      force: { type: "boolean" },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const file = values.in as string | undefined;
    if (file === undefined || file === "") throw new UsageError("Missing --in <file> (see --help)");
    if (file === "-") {
      throw new UsageError(
        '--in cannot be "-": restore reads the file twice (a check, then the writes)',
      );
    }
    const db = dbPath(values.db as string | undefined);
    if (db === ":memory:") throw new UsageError('Cannot restore into ":memory:"');
    const result = await restoreFrom(file, db, { force: values.force === true });
    const replaced = result.replaced > 0 ? `, replacing ${result.replaced} entries` : "";
    console.log(
      `restore: ${result.entries} entries from "${file}" (backup of ${result.created}) into "${db}"${replaced}`,
    );
    return 0;
  }
  throw new UsageError(
    command === undefined
      ? 'Missing command "backup" or "restore" (see --help)'
      : `Unknown command "${command}": expected "backup" or "restore"`,
  );
}

if (import.meta.main) {
  const [command, ...args] = Deno.args;
  await run(command === "restore" ? "restore" : "backup", () => main(command, args));
}
