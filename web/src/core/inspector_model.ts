// The inspector's data (docs/web.md §12, docs/protocol.md §11.8): the connections watched, each with
// its protocol health, and a bounded log of their lines as the server saw and wrote them; a line
// still without its end is replaced by the whole line, error replies are marked, the log pauses and
// clears, and the watch is asked again after a reconnection. Hints are worded in the page's
// language from their data. No DOM here.
import { inspectorEn } from "../i18n/inspector_en.ts";
import { inspectorFr } from "../i18n/inspector_fr.ts";
import type { Hint } from "../../../src/protocol/hints.ts";
import { type I18n, TextPart } from "./i18n.ts";
import { errorInfo, type Timers } from "./server_link.ts";
import { type Line, num, parseLine, str, typeOf } from "./wire.ts";

/** Lines kept in the log: enough to scroll back through a client's session, bounded in memory. */
export const MAX_ENTRIES = 500;
/** How often a teacher's inspector asks `connections` for the server's figures (as the console). */
export const HEALTH_EVERY_MS = 10_000;

/** A connection's protocol health (docs/protocol.md §11.8), since it opened. */
export interface Health {
  lines: number;
  errors: number;
  badJson: number;
  unknownTypes: number;
  limits: number;
  lastError?: { code: string; text: string; at: string };
}

/** A connection as an `inspect_conn` event or a `connections` reply describes it. */
export interface ConnInfo {
  conn: number;
  /** `anonymous`, `guest`, `user` or `closed`. */
  state: string;
  name?: string;
  transport: string;
  address: string;
  since: string;
  helloed: boolean;
  health: Health;
}

/** A connection the inspector holds: keyed by its number and its opening time, as numbers restart
 * with the server. */
export interface ConnView extends ConnInfo {
  key: string;
}

/** A common mistake the server found in a line: the server's own type, read by {@link readHint}. */
export type { Hint };

/** The server's reading of a line a client sent. */
export interface Reading {
  request?: string;
  error?: { code: string; text: string };
  limit?: string;
  hint?: Hint;
}

/** One line of the log. */
export interface Entry {
  /** Unique in the log, for the page's keys. */
  id: number;
  /** The {@link ConnView.key} of its connection. */
  conn: string;
  /** `in`: the client sent it; `out`: the server wrote it. */
  dir: "in" | "out";
  at: string;
  line: string;
  /** Bytes without a line end yet: the server waits for the end. */
  partial: boolean;
  /** A partial line whose connection closed before its end came. */
  unfinished?: boolean;
  reading?: Reading;
  /** An `error` line the server wrote: its code and text. */
  reply?: { code: string; text: string };
}

/** Options of {@link InspectorModel}. */
export interface InspectorOptions {
  request: (body: Readonly<Record<string, unknown>>) => Promise<Line>;
  /** Subscribes to unsolicited lines; returns the unsubscribe function. */
  onLine: (fn: (line: Line) => void) => () => void;
  onChange: () => void;
  timers: Timers;
  /** One connection by its number (a teacher's choice), else every other of the account. */
  target?: number;
  /** A teacher: the figures are also refreshed from `connections`. */
  admin?: boolean;
}

type Counting = "yes" | "no" | "after-login";

/** The inspector's state and actions. */
export class InspectorModel {
  readonly target: number | undefined;
  /** Connections announced, by {@link ConnView.key}, in the order they came. */
  readonly conns = new Map<string, ConnView>();
  paused = false;
  /** Lines that came while paused. */
  held = 0;
  /** The connection inspected (a teacher's) is gone: nothing more will come. */
  gone = false;
  /** The code of the server's refusal of `inspect`, if it refused. */
  refused: string | undefined;

  readonly #o: InspectorOptions;
  #all: Entry[] = [];
  #frozen: Entry[] = [];
  #next = 1;
  /** Connection number → key of the connection holding it now. */
  readonly #current = new Map<number, string>();
  /** A line still waiting for its end, per connection key. */
  readonly #partial = new Map<string, Entry>();
  readonly #counting = new Map<string, Counting>();
  /** Lines the server sends again after a new `inspect` (a connection's early lines): skipped. */
  readonly #replay = new Map<string, Map<string, number>>();
  /** Keys announced since the last `inspect`. */
  readonly #announced = new Set<string>();
  #unsubscribe: (() => void) | undefined;
  #poll: number | undefined;
  #running = false;

  constructor(options: InspectorOptions) {
    this.#o = options;
    this.target = options.target;
  }

  /** The log as shown: frozen while paused. */
  get entries(): readonly Entry[] {
    return this.paused ? this.#frozen : this.#all;
  }

  /** The connections, open ones first. */
  connections(): ConnView[] {
    const all = [...this.conns.values()];
    return [...all.filter((c) => c.state !== "closed"), ...all.filter((c) => c.state === "closed")];
  }

  /**
   * Asks `inspect` (again after a reconnection: the server forgot the watch with the old socket)
   * and takes the lines from now on. A connection held as open that the server does not announce
   * again ended meanwhile: a request sent after `inspect` is answered after every announcement.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#unsubscribe = this.#o.onLine((line) => this.take(line));
    this.#announced.clear();
    try {
      await this.#o.request(this.#request("inspect"));
      this.refused = undefined;
    } catch (e) {
      const { code } = errorInfo(e);
      if (code === "closed") {
        // The socket went: the next start, once ready again, asks again.
        this.#running = false;
        this.#unsubscribe?.();
        return;
      }
      if (code === "bad_request" && this.target !== undefined) this.#end();
      else this.refused = code;
      this.#o.onChange();
      return;
    }
    if (this.#o.admin) this.#pollHealth();
    try {
      await this.#o.request({ type: "ping" });
    } catch {
      return;
    }
    if (!this.#running) return;
    for (const c of this.conns.values()) {
      if (c.state !== "closed" && !this.#announced.has(c.key)) this.#closed(c.key, c);
    }
    this.#o.onChange();
  }

  /** Stops taking lines and tells the server (`uninspect`) while the socket is open. */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#poll !== undefined) this.#o.timers.clearTimeout(this.#poll);
    this.#poll = undefined;
    // Refused or closed: the server has let go anyway.
    this.#o.request(this.#request("uninspect")).catch(() => {});
  }

  /** An `inspect` or `uninspect` request: of the account's connections, or of the target. */
  #request(type: "inspect" | "uninspect"): Line {
    return this.target === undefined ? { type } : { type, conn: this.target };
  }

  /** Freezes the log as shown; lines keep coming underneath. */
  pause(): void {
    if (this.paused) return;
    this.#frozen = [...this.#all];
    this.paused = true;
    this.held = 0;
    this.#o.onChange();
  }

  resume(): void {
    this.paused = false;
    this.#frozen = [];
    this.held = 0;
    this.#o.onChange();
  }

  /** Empties the log (the connections stay). */
  clear(): void {
    this.#all = [];
    this.#frozen = [];
    this.held = 0;
    this.#partial.clear();
    this.#replay.clear();
    this.#o.onChange();
  }

  /** Takes one unsolicited line: `inspect_line` and `inspect_conn`, others ignored. */
  take(line: Line): void {
    const type = typeOf(line);
    if (type === "inspect_line") this.#line(line);
    else if (type === "inspect_conn") this.#conn(line);
    else return;
    this.#o.onChange();
  }

  /** Figures from a `connections` reply, for the connections held. */
  updateHealth(list: readonly ConnInfo[]): void {
    for (const info of list) {
      const key = this.#current.get(info.conn);
      const held = key === undefined ? undefined : this.conns.get(key);
      if (held && held.since === info.since && held.state !== "closed") {
        this.conns.set(held.key, { ...held, health: info.health });
      }
    }
    this.#o.onChange();
  }

  #conn(line: Line): void {
    const info = readConn(line.conn);
    if (!info || (this.target !== undefined && info.conn !== this.target)) return;
    const event = str(line, "event");
    let key = this.#current.get(info.conn);
    const held = key === undefined ? undefined : this.conns.get(key);
    if (event === "closed") {
      if (held && held.since === info.since) this.#closed(held.key, info);
      return;
    }
    if (!held || held.since !== info.since) {
      // A number the server gave again after a restart: another connection.
      if (held) this.#closed(held.key, held);
      if (held && this.target !== undefined) return this.#end();
      key = `${info.conn}@${info.since}`;
    }
    const k = key as string;
    this.#current.set(info.conn, k);
    this.#announced.add(k);
    // Announced again (a new `inspect`): its early lines come again, already in the log.
    const seen = new Map<string, number>();
    for (const e of this.#all) {
      if (e.conn !== k) continue;
      const sig = signature(e);
      seen.set(sig, (seen.get(sig) ?? 0) + 1);
    }
    if (seen.size > 0) this.#replay.set(k, seen);
    this.conns.set(k, { ...info, key: k });
    // The figures count what came before the event; what follows is added here. Lines replayed
    // after it were counted already: the early lines of an anonymous connection (its figures wait
    // for the next `connections` or its close), and those before a login, the login included.
    this.#counting.set(
      k,
      event === "identified" ? "after-login" : info.state === "anonymous" ? "no" : "yes",
    );
  }

  #line(line: Line): void {
    const number = num(line, "conn");
    if (number === undefined || (this.target !== undefined && number !== this.target)) return;
    const key = this.#current.get(number);
    const view = key === undefined ? undefined : this.conns.get(key);
    if (key === undefined || !view) return; // a connection's lines follow its announcement
    const dir = line.dir === "out" ? "out" : "in";
    const text = str(line, "line") ?? "";
    const entry: Entry = {
      id: this.#next++,
      conn: key,
      dir,
      at: str(line, "at") ?? "",
      line: text,
      partial: line.partial === true,
      reading: dir === "in" ? readReading(line.reading) : undefined,
      reply: dir === "out" ? readReply(text) : undefined,
    };
    const replay = this.#replay.get(key);
    if (replay) {
      const sig = signature(entry);
      const n = replay.get(sig) ?? 0;
      if (n > 0) {
        if (n === 1) replay.delete(sig);
        else replay.set(sig, n - 1);
        return;
      }
      this.#replay.delete(key);
    }
    this.#tally(view, entry);
    const waiting = this.#partial.get(key);
    if (dir === "in" && waiting) {
      this.#partial.delete(key);
      const at = this.#all.lastIndexOf(waiting);
      if (at >= 0) this.#all.splice(at, 1);
    }
    if (entry.partial) this.#partial.set(key, entry);
    this.#all.push(entry);
    if (this.#all.length > MAX_ENTRIES) this.#all.splice(0, this.#all.length - MAX_ENTRIES);
    if (this.paused) this.held++;
  }

  /** Adds a line to its connection's figures, as the server counts them (§11.8). */
  #tally(view: ConnView, e: Entry): void {
    const mode = this.#counting.get(view.key);
    if (mode === "after-login") {
      const request = e.reading?.request;
      if (e.dir === "in" && !e.partial && (request === "login" || request === "resume")) {
        this.#counting.set(view.key, "yes");
      }
      return;
    }
    if (mode !== "yes") return;
    const h = { ...view.health };
    if (e.dir === "in") {
      if (e.partial) return;
      h.lines++;
      const code = e.reading?.error?.code;
      if (code === "bad_json") h.badJson++;
      if (code === "unknown_type") h.unknownTypes++;
    } else if (e.reply) {
      h.errors++;
      if (e.reply.code === "rate_limited" || e.reply.code === "too_large") h.limits++;
      h.lastError = { ...e.reply, at: e.at };
    } else return;
    this.conns.set(view.key, { ...view, health: h });
  }

  /** A connection ended: the figures given (its last), a line it left without an end marked. */
  #closed(key: string, info: ConnInfo): void {
    const view = this.conns.get(key);
    if (view) this.conns.set(key, { ...view, state: "closed", health: info.health });
    const waiting = this.#partial.get(key);
    if (waiting) waiting.unfinished = true;
    this.#partial.delete(key);
    this.#counting.set(key, "no");
    if (this.#current.get(info.conn) === key) this.#current.delete(info.conn);
  }

  /** The teacher's connection is gone: nothing more will come, the server is told. */
  #end(): void {
    this.gone = true;
    for (const c of this.conns.values()) if (c.state !== "closed") this.#closed(c.key, c);
    this.stop();
  }

  #pollHealth(): void {
    this.#poll = this.#o.timers.setTimeout(async () => {
      this.#poll = undefined;
      if (!this.#running) return;
      try {
        this.updateHealth(readConnections(await this.#o.request({ type: "connections" })));
      } catch {
        // shown as it was; the next poll tries again
      }
      if (this.#running) this.#pollHealth();
    }, HEALTH_EVERY_MS);
  }
}

/** What identifies a line sent again: its direction, time and text. */
function signature(e: Pick<Entry, "dir" | "at" | "partial" | "line">): string {
  return `${e.dir}|${e.at}|${e.partial ? 1 : 0}|${e.line}`;
}

/** Reads a `health` object; missing figures read 0. */
export function readHealth(value: unknown): Health {
  const v: Line = value && typeof value === "object" ? value as Line : {};
  const h: Health = {
    lines: num(v, "lines") ?? 0,
    errors: num(v, "errors") ?? 0,
    badJson: num(v, "bad_json") ?? 0,
    unknownTypes: num(v, "unknown_types") ?? 0,
    limits: num(v, "limits") ?? 0,
  };
  const last = v.last_error;
  if (last && typeof last === "object") {
    const code = str(last as Line, "code");
    if (code !== undefined) {
      h.lastError = {
        code,
        text: str(last as Line, "text") ?? "",
        at: str(last as Line, "at") ?? "",
      };
    }
  }
  return h;
}

/** Reads a connection's description; undefined without its number. */
export function readConn(value: unknown): ConnInfo | undefined {
  if (!value || typeof value !== "object") return undefined;
  const c = value as Line;
  const conn = num(c, "conn");
  if (conn === undefined) return undefined;
  return {
    conn,
    state: str(c, "state") ?? "anonymous",
    name: str(c, "name"),
    transport: str(c, "transport") ?? "",
    address: str(c, "address") ?? "",
    since: str(c, "since") ?? "",
    helloed: c.helloed === true,
    health: readHealth(c.health),
  };
}

/** Reads a `connections` reply (docs/protocol.md §11.8). */
export function readConnections(reply: Line): ConnInfo[] {
  const list = Array.isArray(reply.connections) ? reply.connections : [];
  return list.flatMap((c) => {
    const info = readConn(c);
    return info ? [info] : [];
  });
}

const PROBLEMS = new Set(["missing", "type", "invalid"]);

/** Reads a hint; undefined when its kind or fields are not as documented. */
export function readHint(value: unknown): Hint | undefined {
  if (!value || typeof value !== "object") return undefined;
  const h = value as Line;
  switch (str(h, "kind")) {
    case "no_newline":
      return { kind: "no_newline", bytes: num(h, "bytes") ?? 0 };
    case "bad_json":
      return { kind: "bad_json", position: num(h, "position") };
    case "unknown_type": {
      const type = str(h, "type");
      return type === undefined
        ? undefined
        : { kind: "unknown_type", type, suggestion: str(h, "suggestion") };
    }
    case "field": {
      const field = str(h, "field");
      const problem = str(h, "problem");
      if (field === undefined || problem === undefined || !PROBLEMS.has(problem)) return undefined;
      return {
        kind: "field",
        field,
        problem: problem as Extract<Hint, { kind: "field" }>["problem"],
        expected: str(h, "expected"),
      };
    }
    case "encoding":
      return { kind: "encoding" };
    case "command_as_chat":
      return { kind: "command_as_chat" };
    default:
      return undefined;
  }
}

/** Reads a line's `reading`. */
export function readReading(value: unknown): Reading | undefined {
  if (!value || typeof value !== "object") return undefined;
  const r = value as Line;
  const reading: Reading = {};
  const request = str(r, "request");
  if (request !== undefined) reading.request = request;
  const error = r.error && typeof r.error === "object" ? r.error as Line : undefined;
  const code = error ? str(error, "code") : undefined;
  if (error && code !== undefined) reading.error = { code, text: str(error, "text") ?? "" };
  const limit = str(r, "limit");
  if (limit !== undefined) reading.limit = limit;
  const hint = readHint(r.hint);
  if (hint) reading.hint = hint;
  return reading;
}

/** An `error` line the server wrote, as its code and text; undefined for any other line. */
export function readReply(text: string): { code: string; text: string } | undefined {
  const line = parseLine(text);
  if (!line || typeOf(line) !== "error") return undefined;
  return { code: str(line, "code") ?? "unknown", text: str(line, "message") ?? "" };
}

/** The inspector's texts in the page's language (its own catalogue: docs/web.md §10). */
export type InspectorTexts = TextPart<typeof inspectorFr>;

/** The inspector's texts for the page's language. */
export function inspectorTexts(i18n: I18n): InspectorTexts {
  return new TextPart(i18n, { fr: inspectorFr, en: inspectorEn });
}

/** Kinds the server names for a field of the wrong kind (zod's), as the catalogue words them. */
const KINDS = ["string", "number", "int", "boolean", "object", "array"] as const;

/** A hint as a sentence in the page's language. */
export function hintText(i18n: InspectorTexts, hint: Hint): string {
  switch (hint.kind) {
    case "no_newline":
      return i18n.n("hintNoNewline", hint.bytes);
    case "bad_json":
      return hint.position === undefined
        ? i18n.t("hintBadJson")
        : i18n.t("hintBadJsonAt", { n: hint.position + 1 });
    case "unknown_type":
      return hint.suggestion === undefined
        ? i18n.t("hintUnknownType", { type: hint.type })
        : i18n.t("hintUnknownTypeSuggest", { type: hint.type, suggestion: hint.suggestion });
    case "field": {
      if (hint.problem === "missing") return i18n.t("hintFieldMissing", { field: hint.field });
      if (hint.problem === "invalid") return i18n.t("hintFieldInvalid", { field: hint.field });
      const kind = KINDS.find((k) => k === hint.expected);
      return i18n.t("hintFieldType", {
        field: hint.field,
        expected: kind ? i18n.t(`kind_${kind}`) : hint.expected ?? "?",
      });
    }
    case "encoding":
      return i18n.t("hintEncoding");
    case "command_as_chat":
      return i18n.t("hintCommandAsChat");
  }
}

/**
 * The line around where JSON parsing stopped (`position`, 0-based in UTF-16 units): the text
 * before, the character there (a whole emoji; "" at the end of the line) and the text after, each
 * side cut to `radius` characters with "…".
 */
export function around(
  line: string,
  position: number,
  radius = 40,
): { before: string; at: string; after: string } {
  const p = Math.max(0, Math.min(position, line.length));
  const width = (line.codePointAt(p) ?? 0) > 0xffff ? 2 : 1;
  const at = line.slice(p, p + width);
  const start = Math.max(0, p - radius);
  const end = Math.min(line.length, p + width + radius);
  return {
    before: (start > 0 ? "…" : "") + line.slice(start, p),
    at,
    after: line.slice(p + at.length, end) + (end < line.length ? "…" : ""),
  };
}

/** "14:05:10" from a server timestamp ("2026-03-02T14:05:10.512"), as given. */
export function clockTime(timestamp: string): string {
  return /T(\d{2}:\d{2}:\d{2})/.exec(timestamp)?.[1] ?? timestamp;
}
