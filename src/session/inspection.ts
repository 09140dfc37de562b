// The inspector (docs/protocol.md §11.8): each connection's protocol health, always counted; its
// lines, recorded only while someone watches it, or, before it logs in, in a small bounded buffer
// handed to its account's watchers once it does. A student watches their own other connections,
// a teacher any connection of this server. Nothing is formatted for a connection nobody watches.
import type { ErrorCode } from "../errors.ts";
import type { LimitName, Transport } from "../events.ts";
import type { Output } from "../hub/bus.ts";
import { encodeBytes } from "../protocol/framing.ts";
import { type Hint, maskSecrets } from "../protocol/hints.ts";
import { formatTimestamp } from "../protocol/replies.ts";

/** A connection's protocol health: what it sent and what the server answered, since it opened. */
export class ProtocolHealth {
  lines = 0;
  errors = 0;
  badJson = 0;
  unknownTypes = 0;
  limits = 0;
  lastError: { code: ErrorCode; text: string; at: number } | undefined = undefined;

  /** An error reply went out: counted, and kept as the last one. */
  answered(code: ErrorCode, text: string, at: number): void {
    this.errors++;
    if (code === "bad_json") this.badJson++;
    else if (code === "unknown_type") this.unknownTypes++;
    else if (code === "rate_limited" || code === "too_large") this.limits++;
    this.lastError = { code, text, at };
  }

  toJSON(): Record<string, unknown> {
    const last = this.lastError;
    return {
      lines: this.lines,
      errors: this.errors,
      bad_json: this.badJson,
      unknown_types: this.unknownTypes,
      limits: this.limits,
      ...last && { last_error: { code: last.code, text: last.text, at: formatTimestamp(last.at) } },
    };
  }
}

/** The server's reading of a line a client sent. */
export interface Reading {
  /** The request type it was read as. */
  request?: string;
  /** The error it was answered with, when parsing it failed. */
  error?: { code: ErrorCode; text: string };
  /** The limit it hit. */
  limit?: LimitName;
  hint?: Hint;
}

/** What the inspector needs of a session (session/session.ts). */
export interface Inspected {
  /** This connection's number on this server, from 1. */
  readonly connId: number;
  readonly state: "anonymous" | "guest" | "user" | "closed";
  readonly name: string;
  readonly key: string;
  readonly helloed: boolean;
  /** Ms since the epoch when the connection opened. */
  readonly openedAt: number;
  readonly origin: { readonly address: string; readonly transport: Transport };
  readonly health: ProtocolHealth;
  /** The connection's output as it is, never recorded: where a watcher's events go. */
  readonly rawOut: Output;
  readonly recorder: Recorder | undefined;
  /** Records what the session writes from now on (`recorder`), or stops (undefined). */
  record(recorder: Recorder | undefined): void;
}

/** One line as an inspector shows it. */
interface Entry {
  dir: "in" | "out";
  at: number;
  line: string;
  /** Bytes received without a line end yet. */
  partial?: true;
  reading?: Reading;
}

// The buffer of a connection before it logs in: its last lines, each cut to a size a student
// reads, so an anonymous connection holds at most about 16 × 512 characters.
const EARLY_ENTRIES = 16;
const EARLY_LINE_CHARS = 512;
// A line shown live is cut here: enough to see what is wrong with it.
const LINE_CHARS = 4096;

const decoder = new TextDecoder();

/** `line` cut to `max` characters, with how much was left out. */
function cut(line: string, max: number): string {
  return line.length <= max ? line : `${line.slice(0, max)}… (${line.length} characters)`;
}

/**
 * One connection's lines being recorded: kept in the early buffer while it has not logged in,
 * sent to its watchers as they come.
 */
export class Recorder {
  readonly watchers = new Set<Inspected>();
  /** Lines before the login, until the connection identifies; then undefined. */
  early: Entry[] | undefined;
  readonly #conn: Inspected;
  readonly #now: () => number;

  constructor(conn: Inspected, now: () => number, buffering: boolean) {
    this.#conn = conn;
    this.#now = now;
    if (buffering) this.early = [];
  }

  /** A line the client sent, with the server's reading of it. */
  in(text: string, reading?: Reading): void {
    this.#add({ dir: "in", at: this.#now(), line: maskSecrets(text), reading });
  }

  /** Bytes the client sent without ending its line, so far (the server waits for the end). */
  pending(bytes: Uint8Array, total: number): void {
    const line = maskSecrets(decoder.decode(bytes));
    const hint: Hint = { kind: "no_newline", bytes: total };
    this.#add({ dir: "in", at: this.#now(), line, partial: true, reading: { hint } });
  }

  /** A line the server wrote to the connection (an encoded JSON line). */
  out(bytes: Uint8Array): void {
    const end = bytes[bytes.length - 1] === 0x0a ? bytes.length - 1 : bytes.length;
    this.#add({
      dir: "out",
      at: this.#now(),
      line: maskSecrets(decoder.decode(bytes.subarray(0, end))),
    });
  }

  /** Sends the early lines to `watcher`. */
  replay(watcher: Inspected): void {
    for (const entry of this.early ?? []) send(watcher, lineEvent(this.#conn, entry));
  }

  #add(entry: Entry): void {
    if (this.early) {
      const kept = { ...entry, line: cut(entry.line, EARLY_LINE_CHARS) };
      // A partial line replaces the one before it: only the latest state is worth keeping.
      const last = this.early[this.early.length - 1];
      if (entry.partial && last?.partial) this.early.pop();
      this.early.push(kept);
      if (this.early.length > EARLY_ENTRIES) this.early.shift();
    }
    if (this.watchers.size === 0) return;
    const event = lineEvent(this.#conn, { ...entry, line: cut(entry.line, LINE_CHARS) });
    for (const watcher of this.watchers) send(watcher, event);
  }
}

/** What a watcher learns of a connection. */
export function connInfo(conn: Inspected): Record<string, unknown> {
  return {
    conn: conn.connId,
    state: conn.state,
    ...(conn.state === "guest" || conn.state === "user") && { name: conn.name },
    transport: conn.origin.transport,
    address: conn.origin.address,
    since: formatTimestamp(conn.openedAt),
    helloed: conn.helloed,
    health: conn.health.toJSON(),
  };
}

function lineEvent(conn: Inspected, entry: Entry): Uint8Array {
  return encodeBytes({
    type: "inspect_line",
    conn: conn.connId,
    dir: entry.dir,
    at: formatTimestamp(entry.at),
    line: entry.line,
    ...entry.partial && { partial: true },
    ...entry.reading && { reading: entry.reading },
  });
}

// A watcher's events go to its output as it is: watching a watcher never records them again.
function send(watcher: Inspected, line: Uint8Array): void {
  if (watcher.state !== "closed") watcher.rawOut.send(line);
}

/** What one watcher watches: its account's other connections, and connections by number. */
interface Watch {
  account?: string;
  conns: Set<number>;
}

/**
 * Every connection of this server by number, and who watches what. One per server; in a cluster,
 * each node's inspector sees that node's connections (docs/protocol.md §11.8).
 */
export class Inspection {
  readonly #now: () => number;
  readonly #conns = new Map<number, Inspected>();
  readonly #byAccount = new Map<string, Set<Inspected>>();
  readonly #watches = new Map<Inspected, Watch>();
  #next = 1;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** A new connection's number. */
  add(conn: Inspected): number {
    const id = this.#next++;
    this.#conns.set(id, conn);
    return id;
  }

  /** Connection `id`, while it is open. */
  get(id: number): Inspected | undefined {
    return this.#conns.get(id);
  }

  /** Every connection, oldest first. */
  connections(): Inspected[] {
    return [...this.#conns.values()];
  }

  /**
   * The recorder of a connection that has not logged in yet, made at its first line: its lines
   * wait in the early buffer until it does.
   */
  early(conn: Inspected): Recorder {
    if (conn.recorder) return conn.recorder;
    const recorder = new Recorder(conn, this.#now, true);
    conn.record(recorder);
    return recorder;
  }

  /**
   * A connection identified (a guest or a user): a user's connection is shown to its account's
   * watchers, with the lines it sent before; the early buffer is dropped.
   */
  identified(conn: Inspected): void {
    const watchers = conn.state === "user" ? this.#byAccount.get(conn.key) : undefined;
    for (const watcher of watchers ?? []) {
      if (watcher !== conn) this.#attach(watcher, conn, "identified");
    }
    const recorder = conn.recorder;
    if (!recorder) return;
    recorder.early = undefined;
    if (recorder.watchers.size === 0) conn.record(undefined);
  }

  /** A connection closed: its watchers are told, and what it watched is let go. */
  closed(conn: Inspected): void {
    if (!this.#conns.delete(conn.connId)) return;
    const info = encodeBytes({ type: "inspect_conn", event: "closed", conn: connInfo(conn) });
    for (const watcher of conn.recorder?.watchers ?? []) {
      send(watcher, info);
      this.#watches.get(watcher)?.conns.delete(conn.connId);
    }
    this.unwatch(conn);
    conn.record(undefined);
  }

  /**
   * `watcher` watches every other connection of its account, now and as they log in.
   */
  watchAccount(watcher: Inspected): void {
    const watch = this.#watch(watcher);
    if (watch.account === undefined) {
      watch.account = watcher.key;
      let set = this.#byAccount.get(watcher.key);
      if (!set) this.#byAccount.set(watcher.key, set = new Set());
      set.add(watcher);
    }
    const mine = this.connections().filter((c) =>
      c !== watcher && c.state === "user" && c.key === watcher.key
    );
    for (const conn of mine) this.#attach(watcher, conn);
  }

  /** `watcher` watches `conn` (another connection), whoever it is: its early lines first. */
  watchConn(watcher: Inspected, conn: Inspected): void {
    if (conn === watcher) return;
    this.#watch(watcher).conns.add(conn.connId);
    this.#attach(watcher, conn);
  }

  /** `watcher` stops watching connection `id`, or everything. */
  unwatch(watcher: Inspected, id?: number): void {
    const watch = this.#watches.get(watcher);
    if (!watch) return;
    if (id !== undefined) {
      watch.conns.delete(id);
      const conn = this.#conns.get(id);
      if (conn && !(watch.account === conn.key && conn.state === "user")) {
        this.#detach(watcher, conn);
      }
      return;
    }
    if (watch.account !== undefined) {
      const set = this.#byAccount.get(watch.account);
      set?.delete(watcher);
      if (set?.size === 0) this.#byAccount.delete(watch.account);
    }
    this.#watches.delete(watcher);
    for (const conn of this.#conns.values()) {
      if (conn.recorder?.watchers.has(watcher)) this.#detach(watcher, conn);
    }
  }

  #watch(watcher: Inspected): Watch {
    let watch = this.#watches.get(watcher);
    if (!watch) this.#watches.set(watcher, watch = { conns: new Set() });
    return watch;
  }

  #attach(watcher: Inspected, conn: Inspected, event = "watched"): void {
    let recorder = conn.recorder;
    if (!recorder) conn.record(recorder = new Recorder(conn, this.#now, false));
    if (recorder.watchers.has(watcher)) return;
    recorder.watchers.add(watcher);
    send(watcher, encodeBytes({ type: "inspect_conn", event, conn: connInfo(conn) }));
    recorder.replay(watcher);
  }

  #detach(watcher: Inspected, conn: Inspected): void {
    const recorder = conn.recorder;
    if (!recorder?.watchers.delete(watcher)) return;
    if (recorder.watchers.size === 0 && !recorder.early) conn.record(undefined);
  }
}
