// The teacher console's data (docs/web.md §9): sessions, every connection's protocol health and
// running mutes every 10 s and on status events, stats every 5 s with messages per second from the
// delta of `messages`, bans, name completion from `directory`, the moderation requests, and how its
// times read. No DOM here.
import type { Timers } from "./server_link.ts";
import { type I18n, localDate, parseTimestamp } from "./i18n.ts";
import { type ConnInfo, readConnections } from "./inspector_model.ts";
import { type Line, nameKey, num, str, typeOf } from "./wire.ts";

/** One connection of an identified session (`sessions` reply). */
export interface SessionRow {
  user: string;
  guest: boolean;
  state: string;
  transport: string;
  address: string;
  since: string;
}

/** The `stats` reply, read loosely. */
export interface Stats {
  connections: Record<string, number>;
  sessions: { user: number; guest: number };
  messages: number;
  limitHits: Record<string, number>;
  startedAt?: string;
}

/** A ban in force (`bans` reply), or a running mute (`mutes` reply): the name as shown. */
export interface Ban {
  user: string;
  until: string;
}

/** A running mute (`mutes` reply, docs/protocol.md §11.7). */
export type Mute = Ban;

/** How often the figures are asked (docs/web.md §9). */
export const STATS_EVERY_MS = 5_000;
export const SESSIONS_EVERY_MS = 10_000;
/** 5 minutes of samples for the sparkline. */
export const SPARK_POINTS = 60;
/** Typing pauses this long before a name is completed: one `directory` request per pause. */
export const COMPLETE_AFTER_MS = 200;
/** Names offered at once (the server gives 10 by default, 50 at most: docs/protocol.md §11.6). */
export const COMPLETE_LIMIT = 10;

/** Options of {@link ConsoleModel}. */
export interface ConsoleOptions {
  request: (body: Readonly<Record<string, unknown>>) => Promise<Line>;
  timers: Timers;
  /** Subscribes to unsolicited lines; returns the unsubscribe function. */
  onLine: (fn: (line: Line) => void) => () => void;
  onChange: () => void;
}

/** The console's state and actions. */
export class ConsoleModel {
  sessions: SessionRow[] = [];
  /** Every connection of the server, identified or not, with its protocol health. */
  connections: ConnInfo[] = [];
  bans: Ban[] = [];
  mutes: Mute[] = [];
  /** Registered names completing the last prefix asked (`directory`). */
  names: string[] = [];
  stats: Stats | undefined;
  /** Messages per second over the last interval, or undefined before two samples. */
  rate: number | undefined;
  /** The last {@link SPARK_POINTS} rates. */
  spark: number[] = [];

  readonly #o: ConsoleOptions;
  #last: { at: number; messages: number } | undefined;
  #timers: number[] = [];
  #unsubscribe: (() => void) | undefined;
  #sessionsSoon: number | undefined;
  #completeSoon: number | undefined;
  #prefix = "";
  #running = false;

  constructor(options: ConsoleOptions) {
    this.#o = options;
  }

  /** Starts polling (the console is shown). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#unsubscribe = this.#o.onLine((line) => {
      if (typeOf(line) === "status") this.#refreshSessionsSoon();
    });
    this.#every(STATS_EVERY_MS, () => this.refreshStats());
    this.#every(SESSIONS_EVERY_MS, () => {
      void this.refreshSessions();
      void this.refreshConnections();
      // A mute runs out on the server without a line to the console: asked with the sessions.
      void this.refreshMutes();
    });
    void this.refreshStats();
    void this.refreshSessions();
    void this.refreshConnections();
    void this.refreshBans();
    void this.refreshMutes();
  }

  /** Stops polling (the console is left). */
  stop(): void {
    this.#running = false;
    for (const t of this.#timers) this.#o.timers.clearTimeout(t);
    this.#timers = [];
    if (this.#sessionsSoon !== undefined) this.#o.timers.clearTimeout(this.#sessionsSoon);
    this.#sessionsSoon = undefined;
    if (this.#completeSoon !== undefined) this.#o.timers.clearTimeout(this.#completeSoon);
    this.#completeSoon = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  async refreshSessions(): Promise<void> {
    try {
      const reply = await this.#o.request({ type: "sessions" });
      this.sessions = readSessions(reply);
      this.#o.onChange();
    } catch {
      // shown as it was; the next poll tries again
    }
  }

  /** Every connection with its protocol health (docs/protocol.md §11.8). */
  async refreshConnections(): Promise<void> {
    try {
      this.connections = readConnections(await this.#o.request({ type: "connections" }));
      this.#o.onChange();
    } catch {
      // idem
    }
  }

  async refreshStats(): Promise<void> {
    try {
      const reply = await this.#o.request({ type: "stats" });
      this.addStats(reply, this.#o.timers.now());
      this.#o.onChange();
    } catch {
      // idem
    }
  }

  async refreshBans(): Promise<void> {
    try {
      const reply = await this.#o.request({ type: "bans" });
      this.bans = readSanctions(reply.bans);
      this.#o.onChange();
    } catch {
      // idem
    }
  }

  async refreshMutes(): Promise<void> {
    try {
      this.mutes = readSanctions((await this.#o.request({ type: "mutes" })).mutes);
      this.#o.onChange();
    } catch {
      // idem
    }
  }

  /**
   * Completes a name being typed: after {@link COMPLETE_AFTER_MS} of quiet, asks `directory`
   * for the registered names starting with `prefix` (online or not) into {@link names}.
   */
  complete(prefix: string): void {
    this.#prefix = prefix.trim();
    if (this.#completeSoon !== undefined) this.#o.timers.clearTimeout(this.#completeSoon);
    this.#completeSoon = undefined;
    if (this.#prefix === "") {
      this.names = [];
      this.#o.onChange();
      return;
    }
    this.#completeSoon = this.#o.timers.setTimeout(async () => {
      this.#completeSoon = undefined;
      const asked = this.#prefix;
      try {
        const reply = await this.#o.request({
          type: "directory",
          prefix: asked,
          limit: COMPLETE_LIMIT,
        });
        if (asked !== this.#prefix) return; // typed on meanwhile: a newer answer comes
        const users = Array.isArray(reply.users) ? reply.users : [];
        this.names = users.filter((u): u is string => typeof u === "string");
        this.#o.onChange();
      } catch {
        // no completion: the name can still be typed in full
      }
    }, COMPLETE_AFTER_MS);
  }

  /** Takes one `stats` reply: the rate is Δmessages/Δt; a smaller count (a restart) is dropped. */
  addStats(reply: Line, at: number): void {
    const stats = readStats(reply);
    this.stats = stats;
    const last = this.#last;
    this.#last = { at, messages: stats.messages };
    if (!last || at <= last.at) return;
    const delta = stats.messages - last.messages;
    if (delta < 0) {
      this.rate = undefined; // the server restarted: counting starts again
      return;
    }
    this.rate = delta / ((at - last.at) / 1000);
    this.spark = [...this.spark, this.rate].slice(-SPARK_POINTS);
  }

  /** Kicks every session of a name. */
  async kick(user: string): Promise<Line> {
    const reply = await this.#o.request({ type: "kick", user });
    this.#refreshSessionsSoon();
    return reply;
  }

  /** Mutes a name, online or not, for `seconds` (docs/protocol.md §6.2); the list follows. */
  async mute(user: string, seconds: number): Promise<Line> {
    const reply = await this.#o.request({ type: "mute", user, duration: seconds });
    await this.refreshMutes();
    return reply;
  }

  /** Lifts a running mute at once (docs/protocol.md §11.7); the list follows. */
  async unmute(user: string): Promise<Line> {
    try {
      return await this.#o.request({ type: "unmute", user });
    } finally {
      await this.refreshMutes(); // refused as not muted: it had run out, the list says so
    }
  }

  /** Bans for `seconds`, closing every session of the name. */
  async ban(user: string, seconds: number): Promise<Line> {
    const reply = await this.#o.request({ type: "ban", user, duration: seconds });
    await this.refreshBans();
    this.#refreshSessionsSoon();
    return reply;
  }

  /** Lifts a ban, and with it a mute on the name (docs/protocol.md §6.4). */
  async unban(user: string): Promise<Line> {
    const reply = await this.#o.request({ type: "unban", user });
    await Promise.all([this.refreshBans(), this.refreshMutes()]);
    return reply;
  }

  /** The mute running on a name, if the last `mutes` reply had one. */
  muteOf(user: string): Mute | undefined {
    const key = nameKey(user);
    return this.mutes.find((m) => nameKey(m.user) === key);
  }

  async announce(content: string): Promise<Line> {
    return await this.#o.request({ type: "announce", content });
  }

  /** Asks a one-time export URL (then the page follows it). */
  async exportTicket(format: "csv" | "json", channel: string, bom: boolean): Promise<string> {
    const body: Record<string, unknown> = { type: "export_ticket", format };
    if (channel.trim() !== "") body.channel = channel.trim();
    if (format === "csv" && bom) body.bom = true;
    const reply = await this.#o.request(body);
    const url = str(reply, "url");
    if (url === undefined) throw new Error("No url in the export_ticket reply");
    return url;
  }

  #every(ms: number, fn: () => void): void {
    const tick = () => {
      if (!this.#running) return;
      fn();
      this.#timers.push(this.#o.timers.setTimeout(tick, ms));
    };
    this.#timers.push(this.#o.timers.setTimeout(tick, ms));
  }

  #refreshSessionsSoon(): void {
    if (this.#sessionsSoon !== undefined || !this.#running) return;
    // A class logging in at once sends a burst of status lines: one request for the burst.
    this.#sessionsSoon = this.#o.timers.setTimeout(() => {
      this.#sessionsSoon = undefined;
      void this.refreshSessions();
      void this.refreshConnections();
    }, 500);
  }
}

function numbers(value: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) if (typeof v === "number") out[k] = v;
  }
  return out;
}

/** Reads a `stats` reply (docs/protocol.md §11.7). */
export function readStats(reply: Line): Stats {
  const sessions = numbers(reply.sessions);
  return {
    connections: numbers(reply.connections),
    sessions: { user: sessions.user ?? 0, guest: sessions.guest ?? 0 },
    messages: num(reply, "messages") ?? 0,
    limitHits: numbers(reply.limit_hits),
    startedAt: str(reply, "started_at"),
  };
}

/** Reads the list of a `bans` or `mutes` reply: names as the server spells them, with their end. */
export function readSanctions(value: unknown): Ban[] {
  const list = Array.isArray(value) ? value as Line[] : [];
  return list.flatMap((b) => {
    const user = b && typeof b === "object" ? str(b, "user") : undefined;
    const until = user !== undefined ? str(b, "until") : undefined;
    return user !== undefined && until !== undefined ? [{ user, until }] : [];
  });
}

/** Whether a session row is the teacher's own name: the server refuses moderating oneself. */
export function isSelf(user: string, me: string | undefined): boolean {
  return me !== undefined && nameKey(user) === nameKey(me);
}

/**
 * When a server time falls, as a French or English phrase through Intl: "aujourd’hui à 04:40",
 * "hier à 23:10", "le 3 décembre à 04:40", "le 1er janvier 2025 à 08:00"; "today at 04:40",
 * "on December 3 at 04:40". Server times are its local wall-clock (docs/protocol.md §3, what a
 * forwarded message looks like), read as such.
 */
export function whenText(i18n: I18n, timestamp: string, now: Date = new Date()): string {
  const at = parseTimestamp(timestamp);
  if (Number.isNaN(at)) return timestamp;
  const date = new Date(at);
  const time = new Intl.DateTimeFormat(i18n.lang, {
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23", // 24-hour clock, as every time of the app (i18n.ts)
  }).format(date);
  const midnight = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((midnight(date) - midnight(now)) / 86_400_000);
  if (Math.abs(days) <= 1) {
    const day = new Intl.RelativeTimeFormat(i18n.lang, { numeric: "auto" }).format(days, "day");
    return i18n.t("whenDay", { day, time });
  }
  const parts = new Intl.DateTimeFormat(i18n.lang, {
    day: "numeric",
    month: "long",
    year: localDate(date).slice(0, 4) === localDate(now).slice(0, 4) ? undefined : "numeric",
  }).formatToParts(date);
  // French writes the first of the month as an ordinal: "le 1er décembre".
  const text = parts.map((p) =>
    p.type === "day" && i18n.lang === "fr" && p.value === "1" ? "1er" : p.value
  ).join("");
  return i18n.t("whenDate", { date: text, time });
}

/** How long since a server time, "4 h 50 min" or "2 j 3 h" (i18n.ts `duration`). */
export function sinceText(i18n: I18n, timestamp: string, now: number = Date.now()): string {
  return i18n.duration(now - parseTimestamp(timestamp));
}

/** Reads a `sessions` reply. */
export function readSessions(reply: Line): SessionRow[] {
  const list = Array.isArray(reply.sessions) ? reply.sessions as Line[] : [];
  return list.flatMap((s) => {
    if (!s || typeof s !== "object") return [];
    const user = str(s, "user");
    if (user === undefined) return [];
    return [{
      user,
      guest: s.guest === true,
      state: str(s, "state") ?? "online",
      transport: str(s, "transport") ?? "",
      address: str(s, "address") ?? "",
      since: str(s, "since") ?? "",
    }];
  });
}
