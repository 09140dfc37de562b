// The teacher console's data (WEB.md §6): sessions every 10 s and on status events, stats every
// 5 s with messages per second from the delta of `messages`, bans, mutes given from this page,
// and the moderation requests. No DOM here.
import type { Timers } from "./connection.ts";
import { type Line, num, str, typeOf } from "./wire.ts";

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

/** A ban in force (`bans` reply). */
export interface Ban {
  user: string;
  until: string;
}

/** How often the figures are asked (WEB.md §6). */
export const STATS_EVERY_MS = 5_000;
export const SESSIONS_EVERY_MS = 10_000;
/** 5 minutes of samples for the sparkline. */
export const SPARK_POINTS = 60;

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
  bans: Ban[] = [];
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
    this.#every(SESSIONS_EVERY_MS, () => this.refreshSessions());
    void this.refreshStats();
    void this.refreshSessions();
    void this.refreshBans();
  }

  /** Stops polling (the console is left). */
  stop(): void {
    this.#running = false;
    for (const t of this.#timers) this.#o.timers.clearTimeout(t);
    this.#timers = [];
    if (this.#sessionsSoon !== undefined) this.#o.timers.clearTimeout(this.#sessionsSoon);
    this.#sessionsSoon = undefined;
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
      const list = Array.isArray(reply.bans) ? reply.bans as Line[] : [];
      this.bans = list.flatMap((b) => {
        const user = b && typeof b === "object" ? str(b, "user") : undefined;
        const until = user !== undefined ? str(b, "until") : undefined;
        return user !== undefined && until !== undefined ? [{ user, until }] : [];
      });
      this.#o.onChange();
    } catch {
      // idem
    }
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

  /** Mutes for `seconds`; 1 s lifts a mute (docs/protocol.md §6). */
  mute(user: string, seconds: number): Promise<Line> {
    return this.#o.request({ type: "mute", user, duration: seconds });
  }

  /** Bans for `seconds`, closing every session of the name. */
  async ban(user: string, seconds: number): Promise<Line> {
    const reply = await this.#o.request({ type: "ban", user, duration: seconds });
    await this.refreshBans();
    this.#refreshSessionsSoon();
    return reply;
  }

  async unban(user: string): Promise<Line> {
    const reply = await this.#o.request({ type: "unban", user });
    await this.refreshBans();
    return reply;
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

/** Reads a `stats` reply (docs/protocol.md §11). */
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
