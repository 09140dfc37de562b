// The link to the server, the connection state machine of docs/web.md §3.1: idle → connecting →
// authenticating → syncing → ready, then reconnecting or stopped by the last error line; requests
// matched to replies by id; pings; the resume token. No DOM here: the socket, timers and storage
// are injected.
import { Backoff } from "./backoff.ts";
import { idSource } from "./ids.ts";
import { type ErrorInfo, type Line, num, parseLine, readError, str, typeOf } from "./wire.ts";

/** Where the connection is (docs/web.md §3.1). */
export type LinkState =
  | "idle"
  | "connecting"
  | "authenticating"
  | "syncing"
  | "ready"
  | "reconnecting"
  | "stopped";

/** The few WebSocket members the link uses (a real WebSocket fits). */
export interface SocketLike {
  onopen: ((ev: Event) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  send(data: string): void;
  close(): void;
}

/** Timers and a clock (ms); the page's own by default, fake in tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): number;
  clearTimeout(handle: number): void;
  now(): number;
}

/** A resume token as kept in the tab's sessionStorage. */
export interface SavedToken {
  token: string;
  user: string;
  /** Ms since the epoch (Timers.now) when it stops working. */
  expiresAt: number;
}

/** Where the token lives: sessionStorage in the page (per tab, survives a reload). */
export interface TokenStore {
  load(): SavedToken | undefined;
  save(token: SavedToken): void;
  clear(): void;
}

/** What the UI shows about the connection. */
export interface LinkStatus {
  state: LinkState;
  /** Why the page is reconnecting, stopped or back to the form: the last error line, or local. */
  reason?: ErrorInfo;
  /** While reconnecting: when the next attempt starts (Timers.now clock). */
  retryAt?: number;
  /** While reconnecting: waiting for the browser's `online` event. */
  waitingForNetwork: boolean;
  /** The account's name (as registered once logged in): kept to prefill the form. */
  user?: string;
  admin: boolean;
}

/** A login or resume that succeeded. */
export interface LoginInfo {
  user: string;
  admin: boolean;
  resumed: boolean;
}

/** What the link tells its owner. */
export interface ServerLinkEvents {
  /** The status changed. */
  onStatus(status: LinkStatus): void;
  /** A line not matched to a request (`matched` false), or a reply (`matched` true). */
  onLine(line: Line, matched: boolean): void;
  /** Logged in: the owner catches up, then calls {@link ServerLink.markReady}. */
  onLogin(login: LoginInfo): void;
  /** The socket is gone (unacknowledged sends are now in doubt). */
  onClosed(): void;
}

/** Server limits from the `hello` reply that the page uses. */
export interface Limits {
  idleTimeoutMs: number;
  historyMax: number;
  maxLineBytes: number;
}

/** Options of {@link ServerLink}. */
export interface ServerLinkOptions {
  url: string;
  createSocket: (url: string) => SocketLike;
  timers: Timers;
  tokens: TokenStore;
  events: ServerLinkEvents;
  /** Whether the browser thinks it is online (navigator.onLine). */
  isOnline?: () => boolean;
  random?: () => number;
  ids?: () => string;
}

/** A request answered with an `error` line, or lost with its socket (`closed`). */
export class RequestError extends Error {
  override name = "RequestError";
  constructor(readonly info: ErrorInfo) {
    super(info.message ?? info.code);
  }
}

/** Reads any rejection as an ErrorInfo. */
export function errorInfo(e: unknown): ErrorInfo {
  return e instanceof RequestError ? e.info : { code: "closed" };
}

/** 10 s to open the socket (docs/web.md §3.4). */
export const CONNECT_TIMEOUT_MS = 10_000;
/** A pong later than this means the socket is dead (a laptop waking up). */
export const PONG_TIMEOUT_MS = 10_000;
/** 30 s in `ready` resets the backoff. */
export const STABLE_MS = 30_000;
const DEFAULT_LIMITS: Limits = { idleTimeoutMs: 120_000, historyMax: 200, maxLineBytes: 65_536 };

type Pending = { resolve: (line: Line) => void; reject: (e: RequestError) => void };
type TimerName = "connect" | "retry" | "ping" | "refresh" | "probe";

/** The page's link to the chat server: reconnecting by itself once logged in. */
export class ServerLink {
  readonly #o: ServerLinkOptions;
  readonly #ids: () => string;
  readonly #random: () => number;
  readonly #backoff: Backoff;
  readonly #pending = new Map<string, Pending>();
  readonly #timers = new Map<TimerName, number>();
  #status: LinkStatus = { state: "idle", waitingForNetwork: false, admin: false };
  #socket: SocketLike | undefined;
  #open = false;
  /** Bumped whenever a socket is dropped: events of older sockets are ignored. */
  #gen = 0;
  #lastLine: Line | undefined;
  #credentials: { username: string; password: string; register: boolean } | undefined;
  /** Logged in at least once since the form: a lost socket reconnects by itself. */
  #hasLogin = false;
  #readyAt: number | undefined;
  #limits: Limits = DEFAULT_LIMITS;
  #features: ReadonlySet<string> = new Set();
  /** The login or resume request waiting for its reply. */
  #auth: { id: string; mode: "login" | "resume" } | undefined;

  constructor(options: ServerLinkOptions) {
    this.#o = options;
    this.#ids = options.ids ?? idSource();
    this.#random = options.random ?? Math.random;
    this.#backoff = new Backoff({ random: this.#random });
  }

  /** The current status (a fresh object at every change). */
  get status(): LinkStatus {
    return this.#status;
  }

  /** Limits from the last `hello` reply. */
  get limits(): Limits {
    return this.#limits;
  }

  /** Features the server listed in its `hello` reply. */
  get features(): ReadonlySet<string> {
    return this.#features;
  }

  /** A fresh request id (for a send recorded before it goes out). */
  newId(): string {
    return this.#ids();
  }

  /** Whether requests can be sent now. */
  get isOpen(): boolean {
    return this.#open;
  }

  /** From the form: opens the socket (the first one), then `hello`, [`register`], `login`. */
  login(username: string, password: string, register = false): void {
    if (this.#status.state !== "idle" && this.#status.state !== "stopped") return;
    this.#drop();
    this.#hasLogin = false;
    this.#credentials = { username, password, register };
    this.#set({ user: username, reason: undefined });
    this.#connect("login");
  }

  /** At page load: resumes with the tab's saved token, if it still works. */
  resumeSaved(): boolean {
    const saved = this.#o.tokens.load();
    if (!saved || saved.expiresAt <= this.#o.timers.now()) {
      if (saved) this.#o.tokens.clear();
      return false;
    }
    this.#hasLogin = true;
    this.#set({ user: saved.user });
    this.#connect("resume");
    return true;
  }

  /** "Réessayer maintenant", or "Se reconnecter" once stopped. */
  retryNow(): void {
    const state = this.#status.state;
    if (state === "reconnecting" || state === "stopped") this.#attempt();
  }

  /** "Se déconnecter": closes, forgets the token and the name. */
  logout(): void {
    this.#drop();
    this.#o.tokens.clear();
    this.#hasLogin = false;
    this.#credentials = undefined;
    this.#set({
      state: "idle",
      reason: undefined,
      user: undefined,
      admin: false,
      retryAt: undefined,
      waitingForNetwork: false,
    });
  }

  /** The catch-up is over. */
  markReady(): void {
    if (this.#status.state !== "syncing") return;
    this.#readyAt = this.#o.timers.now();
    this.#set({ state: "ready" });
  }

  /** The browser's `online` event: try at once. */
  networkOnline(): void {
    if (this.#status.state === "reconnecting") this.#attempt();
    else this.#probe();
  }

  /**
   * The browser's `offline` event: the socket cannot be trusted any more, so the page says so at
   * once (rather than when a ping times out) and waits for `online`.
   */
  networkOffline(): void {
    const state = this.#status.state;
    if (state === "reconnecting") {
      this.#clear("retry");
      this.#set({ waitingForNetwork: true, retryAt: undefined });
    } else if (state !== "idle" && state !== "stopped" && this.#hasLogin) {
      this.#lost({ code: "network" });
    }
  }

  /** The page turned visible: try at once, or check that an open socket still answers. */
  pageVisible(): void {
    if (this.#status.state === "reconnecting" && !this.#status.waitingForNetwork) this.#attempt();
    else this.#probe();
  }

  /** Sends a request with a fresh id; resolves with its reply, rejects with a RequestError. */
  request(body: Readonly<Record<string, unknown>>, id: string = this.#ids()): Promise<Line> {
    const socket = this.#socket;
    if (!socket || !this.#open) return Promise.reject(new RequestError({ code: "closed" }));
    return new Promise<Line>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      try {
        socket.send(JSON.stringify({ ...body, id }));
      } catch {
        this.#pending.delete(id);
        reject(new RequestError({ code: "closed" }));
      }
    });
  }

  /** Stops everything (tests, page unload). */
  dispose(): void {
    this.#drop();
    this.#clear("retry");
  }

  // --- internals

  #set(patch: Partial<LinkStatus>): void {
    this.#status = { ...this.#status, ...patch };
    this.#o.events.onStatus(this.#status);
  }

  #timer(name: TimerName, ms: number, fn: () => void): void {
    this.#clear(name);
    const handle = this.#o.timers.setTimeout(() => {
      this.#timers.delete(name);
      fn();
    }, ms);
    this.#timers.set(name, handle);
  }

  #clear(name: TimerName): void {
    const handle = this.#timers.get(name);
    if (handle !== undefined) this.#o.timers.clearTimeout(handle);
    this.#timers.delete(name);
  }

  #connect(mode: "login" | "resume"): void {
    this.#clear("retry");
    const gen = ++this.#gen;
    this.#lastLine = undefined;
    this.#set({ state: "connecting", retryAt: undefined, waitingForNetwork: false });
    let socket: SocketLike;
    try {
      socket = this.#o.createSocket(this.#o.url);
    } catch {
      this.#lost({ code: "network" });
      return;
    }
    this.#socket = socket;
    this.#timer("connect", CONNECT_TIMEOUT_MS, () => {
      if (gen === this.#gen && !this.#open) this.#lost({ code: "network" });
    });
    socket.onopen = () => {
      if (gen !== this.#gen) return;
      this.#clear("connect");
      this.#open = true;
      this.#set({ state: "authenticating" });
      void this.#authenticate(gen, mode);
    };
    socket.onmessage = (ev) => {
      if (gen === this.#gen) this.#receive(ev.data);
    };
    socket.onclose = () => {
      if (gen === this.#gen) this.#lost();
    };
    socket.onerror = () => {}; // a close event follows
  }

  async #authenticate(gen: number, mode: "login" | "resume"): Promise<void> {
    this.request({ type: "hello", version: 2 }).then((reply) => {
      if (gen === this.#gen) this.#hello(reply);
    }, () => {});
    try {
      let body: Record<string, unknown>;
      if (mode === "resume") {
        const saved = this.#o.tokens.load();
        if (!saved) throw new RequestError({ code: "session_expired" });
        body = { type: "resume", token: saved.token };
      } else {
        const c = this.#credentials;
        if (!c) throw new RequestError({ code: "closed" });
        if (c.register) {
          await this.request({ type: "register", username: c.username, password: c.password });
        }
        body = { type: "login", username: c.username, password: c.password };
      }
      // Answered in #receive, synchronously: the lines right after the login reply (offline
      // messages) must find the session started.
      this.#auth = { id: this.#ids(), mode };
      this.request(body, this.#auth.id).catch(() => {});
    } catch (e) {
      if (gen === this.#gen) this.#authFailed(errorInfo(e), mode);
    }
  }

  #hello(reply: Line): void {
    const features = reply.features;
    if (Array.isArray(features)) {
      this.#features = new Set(features.filter((f): f is string => typeof f === "string"));
    }
    const limits = reply.limits;
    if (limits && typeof limits === "object") {
      const l = limits as Line;
      this.#limits = {
        idleTimeoutMs: num(l, "idle_timeout_ms") ?? DEFAULT_LIMITS.idleTimeoutMs,
        historyMax: num(l, "history_max") ?? DEFAULT_LIMITS.historyMax,
        maxLineBytes: num(l, "max_line_bytes") ?? DEFAULT_LIMITS.maxLineBytes,
      };
    }
    this.#schedulePing();
  }

  #schedulePing(): void {
    // min(45 s, idle_timeout/3) (docs/web.md §3.4): two pings may be lost before the server closes.
    const every = Math.max(1000, Math.min(45_000, this.#limits.idleTimeoutMs / 3));
    this.#timer("ping", every, () => {
      this.#probe();
      this.#schedulePing();
    });
  }

  /** A ping that must be answered in time, else the socket is taken for dead. */
  #probe(): void {
    if (!this.#open || this.#timers.has("probe")) return;
    const gen = this.#gen;
    this.#timer("probe", PONG_TIMEOUT_MS, () => {
      if (gen === this.#gen) this.#lost({ code: "network" });
    });
    this.request({ type: "ping" }).then(() => {
      if (gen === this.#gen) this.#clear("probe");
    }, () => {});
  }

  #loggedIn(reply: Line, mode: "login" | "resume"): void {
    const user = str(reply, "username") ?? this.#credentials?.username ?? this.#status.user ?? "";
    const admin = reply.admin === true;
    this.#credentials = undefined; // the password leaves page memory
    this.#hasLogin = true;
    this.#keepToken(reply, user);
    this.#set({ state: "syncing", user, admin, reason: undefined, retryAt: undefined });
    this.#o.events.onLogin({ user, admin, resumed: mode === "resume" });
  }

  #keepToken(reply: Line, user: string): void {
    const token = str(reply, "resume_token");
    if (token === undefined) return;
    const ttl = num(reply, "resume_expires_ms") ?? 15 * 60_000;
    this.#o.tokens.save({ token, user, expiresAt: this.#o.timers.now() + ttl });
    // Renew on the live socket at two thirds of its life, so a drop after an hour resumes too.
    this.#timer("refresh", Math.max(1000, ttl * 2 / 3), () => this.#refresh());
  }

  #refresh(): void {
    const saved = this.#o.tokens.load();
    if (!saved || !this.#open) return;
    const gen = this.#gen;
    this.request({ type: "resume", token: saved.token }).then(
      (reply) => {
        if (gen === this.#gen) this.#keepToken(reply, saved.user);
      },
      () => {},
    );
  }

  #authFailed(info: ErrorInfo, mode: "login" | "resume"): void {
    this.#drop();
    if (mode === "login") {
      this.#credentials = undefined;
      this.#hasLogin = false;
      this.#set({ state: "idle", reason: info });
      return;
    }
    if (
      info.code === "auth_failed" || info.code === "forbidden" || info.code === "session_expired"
    ) {
      this.#o.tokens.clear();
      this.#hasLogin = false;
      this.#o.events.onClosed();
      this.#set({
        state: "idle",
        reason: info.code === "forbidden" ? info : { code: "session_expired" },
      });
      return;
    }
    this.#o.events.onClosed();
    this.#reconnectAfter(info);
  }

  #receive(data: unknown): void {
    const line = parseLine(data);
    if (!line) return;
    this.#lastLine = line;
    const id = line.id;
    if (this.#auth !== undefined && id === this.#auth.id) {
      const { mode } = this.#auth;
      this.#auth = undefined;
      this.#pending.delete(id);
      if (typeOf(line) === "error") this.#authFailed(readError(line), mode);
      else this.#loggedIn(line, mode);
      return;
    }
    const pending = typeof id === "string" ? this.#pending.get(id) : undefined;
    if (pending && typeof id === "string") {
      this.#pending.delete(id);
      if (typeOf(line) === "error") pending.reject(new RequestError(readError(line)));
      else pending.resolve(line);
      this.#o.events.onLine(line, true);
      return;
    }
    this.#o.events.onLine(line, false);
  }

  /** Closes the socket on our side; its events are ignored from now on. */
  #drop(): void {
    this.#gen++;
    this.#auth = undefined;
    for (const name of ["connect", "ping", "refresh", "probe"] as const) this.#clear(name);
    const socket = this.#socket;
    this.#socket = undefined;
    this.#open = false;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(new RequestError({ code: "closed" }));
    if (socket) {
      socket.onopen =
        socket.onmessage =
        socket.onclose =
        socket.onerror =
          null;
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
  }

  /** The socket closed or died: the last error line says what comes next (docs/web.md §3.2). */
  #lost(local?: ErrorInfo): void {
    const last = this.#lastLine;
    const closing = last && typeOf(last) === "error" && last.id === undefined
      ? readError(last)
      : undefined;
    const reason = closing ?? local ?? { code: "network" };
    this.#drop();
    if (!this.#hasLogin) {
      this.#credentials = undefined;
      this.#set({ state: "idle", reason });
      return;
    }
    this.#o.events.onClosed();
    if (this.#readyAt !== undefined && this.#o.timers.now() - this.#readyAt >= STABLE_MS) {
      this.#backoff.reset();
    }
    this.#readyAt = undefined;
    if (reason.code === "forbidden") {
      this.#set({ state: "stopped", reason, retryAt: undefined, waitingForNetwork: false });
      return;
    }
    this.#reconnectAfter(reason);
  }

  #reconnectAfter(reason: ErrorInfo): void {
    let delay: number;
    if (reason.code === "shutting_down") {
      delay = 500 + this.#random() * 4500; // spread a class over 0.5–5 s
      this.#backoff.next();
    } else if (reason.code === "server_busy" || reason.code === "rate_limited") {
      delay = Math.max(this.#backoff.next(), reason.retryAfterMs ?? 5000);
    } else {
      delay = this.#backoff.next();
    }
    const offline = this.#o.isOnline ? !this.#o.isOnline() : false;
    this.#set({
      state: "reconnecting",
      reason,
      waitingForNetwork: offline,
      retryAt: offline ? undefined : this.#o.timers.now() + delay,
    });
    if (!offline) this.#timer("retry", delay, () => this.#attempt());
  }

  #attempt(): void {
    this.#clear("retry");
    const saved = this.#o.tokens.load();
    if (!saved || saved.expiresAt <= this.#o.timers.now()) {
      this.#o.tokens.clear();
      this.#hasLogin = false;
      this.#set({
        state: "idle",
        reason: { code: "session_expired" },
        retryAt: undefined,
        waitingForNetwork: false,
      });
      return;
    }
    this.#connect("resume");
  }
}
